// See waits.h.
#include "accept_loop/waits.h"

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

#include "accept_loop/stop_signal.h"

namespace fcgi {

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
    if (!AdmitConnection(fd, peer, allow)) {
      // One line on stderr, as createServer reports it where nothing listens for 'clientError' (lib/request/limits.ts).
      std::string line = "libfcgi: refused a request: " + AddressRefusal(peer) + "\n";
      ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
      (void)ignored;
      continue;
    }
    // The listening socket may be non-blocking (libuv sets O_NONBLOCK on fds it touched) and accept4 does not
    // inherit that flag on Linux, so the connection blocks as libfcgi's streams expect.
    return fd;
  }
}

}  // namespace fcgi
