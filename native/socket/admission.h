// Who may connect, and what is done with a connection just accepted, the same for both serving modes:
// FCGI_WEB_SERVER_ADDRS applied to IPv4 and IPv6 peers alike, the web server's user ids to Unix peers (createServer's
// webServerUids), and Nagle off on TCP.
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace fcgi {

// The web server addresses a connection may come from; empty allows every peer, as libfcgi does.
class AllowList {
 public:
  // Parses a comma-separated list of IPv4 or IPv6 addresses. Returns false (and stays empty) on a malformed entry.
  bool Parse(const std::string& commaSeparated);
  bool Allows(const sockaddr_storage& peer) const;

 private:
  std::vector<in_addr> v4_;
  std::vector<in6_addr> v6_;
};

// What both serving modes do with a connection just accepted from peer: close it (returning false) when the allow
// list refuses the peer, else turn Nagle off on TCP (records are written whole; Nagle would only delay the last one).
bool AdmitConnection(int fd, const sockaddr_storage& peer, const AllowList& allow);

// The peer's address as text ("203.0.113.7", "::1"), for the line that says a connection was refused.
std::string PeerAddress(const sockaddr_storage& peer);

// Why AdmitConnection refused peer, as both serving modes report it.
std::string AddressRefusal(const sockaddr_storage& peer);

// Whether a Unix peer runs as one of uids (SO_PEERCRED); every peer passes when uids is empty, and every TCP peer.
// peerUid receives the peer's uid, or -1 when it could not be read (which refuses it).
bool AllowsPeerUid(int fd, const sockaddr_storage& peer, const std::vector<uid_t>& uids, long* peerUid);

}  // namespace fcgi
