// Accepts FastCGI connections on a listening socket, in place of libfcgi's OS_Accept: it waits with poll() (a
// listening fd that libuv made non-blocking makes accept() fail with EAGAIN), never select()s (which breaks on fds
// above 1023), and applies FCGI_WEB_SERVER_ADDRS to IPv4 and IPv6 peers alike.
#include "accept.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>

#include "stop_signal.h"

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

namespace {

// Errors that concern one connection that went away before it was accepted, not the listening socket.
bool IsTransientAcceptError(int error) {
  switch (error) {
    case EINTR:
    case EAGAIN:
    case ECONNABORTED:
    case ECONNRESET:
    case EPROTO:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH:
      return true;
    default:
      return false;
  }
}

}  // namespace

namespace {

// Waits are cut into slices of at most a second, so a parent's death is noticed without a signal.
constexpr int kSliceMs = 1000;

// How long the next slice of a wait that began at `started` may last: -1 for no limit, or a negative code when the wait
// must end now (-ECANCELED, -ESRCH, -ETIMEDOUT). `sliceEnded` says the last slice ended without work.
int NextSliceMs(const StopWhen& stop, std::chrono::steady_clock::time_point started, bool sliceEnded, int* sliceMs) {
  // The parent is looked at when a slice ends without work, and at most once a slice otherwise: not once per request.
  thread_local std::chrono::steady_clock::time_point parentCheckedAt;
  if (sliceEnded) parentCheckedAt = {};
  if (StopRequested()) return -ECANCELED;
  auto now = std::chrono::steady_clock::now();
  if (stop.parentPid != 0 && now - parentCheckedAt >= std::chrono::milliseconds(kSliceMs)) {
    parentCheckedAt = now;
    if (getppid() != stop.parentPid) return -ESRCH;
  }
  *sliceMs = stop.parentPid != 0 ? kSliceMs : -1;
  if (stop.idleMs > 0) {
    auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(now - started).count();
    int left = stop.idleMs - static_cast<int>(idle);
    if (left <= 0) return -ETIMEDOUT;
    // Whole slices while far from the end keep the receive timeout the same from one request to the next.
    *sliceMs = std::min(left, kSliceMs);
  }
  return 0;
}

}  // namespace

int WaitToServe(int fd, const StopWhen& stop) {
  auto started = std::chrono::steady_clock::now();
  bool sliceEnded = false;
  for (;;) {
    int waitMs;
    int code = NextSliceMs(stop, started, sliceEnded, &waitMs);
    if (code != 0) return code;
    pollfd waiting{fd, POLLIN, 0};
    int ready = poll(&waiting, 1, waitMs);
    if (ready < 0 && errno != EINTR) return -errno;
    sliceEnded = ready == 0;
    if (ready <= 0) continue;
    if (waiting.revents & POLLNVAL) return -EBADF;
    return 0;
  }
}

ssize_t ReceiveToServe(int fd, char* buffer, size_t length, const StopWhen& stop, int* receiveTimeoutMs) {
  auto started = std::chrono::steady_clock::now();
  bool sliceEnded = false;
  for (;;) {
    int sliceMs;
    int code = NextSliceMs(stop, started, sliceEnded, &sliceMs);
    if (code != 0) return code;
    // SO_RCVTIMEO bounds the blocking recv() as poll()'s timeout would; 0 there means no limit. It is set only when
    // it changes, which on a kept connection is once.
    int timeoutMs = std::max(sliceMs, 0);
    if (timeoutMs != *receiveTimeoutMs) {
      timeval timeout{timeoutMs / 1000, (timeoutMs % 1000) * 1000};
      if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) != 0) {
        if (errno != ENOTSOCK) return 0;
        int waited = WaitToServe(fd, stop);  // not a socket: wait, then read
        return waited != 0 ? waited : std::max<ssize_t>(read(fd, buffer, length), 0);
      }
      *receiveTimeoutMs = timeoutMs;
    }
    // SIGTERM ends the recv() with EINTR: its handler (stop_signal.cc) is installed without SA_RESTART.
    ssize_t count = recv(fd, buffer, length, 0);
    if (count >= 0) return count;
    if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) return 0;  // reset: the connection is over
    sliceEnded = errno != EINTR;
  }
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

int AcceptConnection(int listenFd, const AllowList& allow, const StopWhen& stop) {
  for (;;) {
    int waited = WaitToServe(listenFd, stop);
    if (waited != 0) return waited;

    sockaddr_storage peer{};
    socklen_t length = sizeof(peer);
    int fd = accept4(listenFd, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
    if (fd < 0) {
      if (IsTransientAcceptError(errno)) continue;
      return -errno;
    }
    if (!AdmitConnection(fd, peer, allow)) continue;
    // The listening socket may be non-blocking (libuv sets O_NONBLOCK on fds it touched) and accept4 does not
    // inherit that flag on Linux, so the connection blocks as libfcgi's streams expect.
    return fd;
  }
}

}  // namespace fcgi
