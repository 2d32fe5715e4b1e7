#include "socket/admission.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

namespace fcgi {

bool AllowList::Parse(const std::string& commaSeparated) {
  std::vector<in_addr> v4;
  std::vector<in6_addr> v6;
  std::stringstream entries(commaSeparated);
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    size_t first = entry.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    entry = entry.substr(first, entry.find_last_not_of(" \t") - first + 1);
    in_addr a4;
    in6_addr a6;
    if (inet_pton(AF_INET, entry.c_str(), &a4) == 1) {
      v4.push_back(a4);
    } else if (inet_pton(AF_INET6, entry.c_str(), &a6) == 1) {
      v6.push_back(a6);
    } else {
      return false;
    }
  }
  v4_ = std::move(v4);
  v6_ = std::move(v6);
  return true;
}

bool AllowList::Allows(const sockaddr_storage& peer) const {
  if (v4_.empty() && v6_.empty()) return true;
  if (peer.ss_family == AF_INET) {
    const in_addr& address = reinterpret_cast<const sockaddr_in&>(peer).sin_addr;
    for (const in_addr& allowed : v4_) {
      if (allowed.s_addr == address.s_addr) return true;
    }
    return false;
  }
  if (peer.ss_family == AF_INET6) {
    const in6_addr& address = reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr;
    for (const in6_addr& allowed : v6_) {
      if (std::memcmp(&allowed, &address, sizeof(address)) == 0) return true;
    }
    // An IPv4 client of a dual-stack listener arrives as ::ffff:a.b.c.d.
    if (IN6_IS_ADDR_V4MAPPED(&address)) {
      in_addr mapped;
      std::memcpy(&mapped, &address.s6_addr[12], sizeof(mapped));
      for (const in_addr& allowed : v4_) {
        if (allowed.s_addr == mapped.s_addr) return true;
      }
    }
    return false;
  }
  return true;  // Unix sockets: only local processes can connect, and the list names IP addresses.
}

std::string PeerAddress(const sockaddr_storage& peer) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (peer.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr, text, sizeof(text));
  } else if (peer.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr, text, sizeof(text));
  }
  return text;
}

std::string AddressRefusal(const sockaddr_storage& peer) {
  return "a connection from " + PeerAddress(peer) + ", which webServerAddrs (FCGI_WEB_SERVER_ADDRS) does not list";
}

bool AdmitConnection(int fd, const sockaddr_storage& peer, const AllowList& allow) {
  if (!allow.Allows(peer)) {
    close(fd);
    return false;
  }
  if (peer.ss_family == AF_INET || peer.ss_family == AF_INET6) {
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  }
  return true;
}

bool AllowsPeerUid(int fd, const sockaddr_storage& peer, const std::vector<uid_t>& uids, long* peerUid) {
  *peerUid = -1;
  if (uids.empty() || peer.ss_family != AF_UNIX) return true;
  ucred credentials{};
  socklen_t length = sizeof(credentials);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return false;
  *peerUid = static_cast<long>(credentials.uid);
  for (uid_t allowed : uids) {
    if (allowed == credentials.uid) return true;
  }
  return false;
}

}  // namespace fcgi
