#include "accept_loop/blocking_reader.h"

#include <fastcgi.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace fcgi {

namespace {

thread_local BlockingReader* tCurrent = nullptr;

// Best effort: the guard's replies end a request it refuses or answer GET_VALUES; a peer that has gone away needs no
// answer.
void SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

// The web server is usually still sending the rest of the request, and closing with unread bytes would reset the
// connection and could destroy the reply on the way. So: end our side, and read and discard until the peer closes
// (it does once it has the reply), for a bounded time.
void LingerAfterReply(int fd) {
  constexpr int kLingerMs = 2000;
  shutdown(fd, SHUT_WR);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kLingerMs);
  char scratch[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd readable = {fd, POLLIN, 0};
    int ready = poll(&readable, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return;
    ssize_t count = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
    if (count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN)) return;
  }
}

int RefusalErrno(const RecordGuard& guard) { return guard.refusal() > 0 ? guard.refusal() : EPROTO; }

}  // namespace

BlockingReader* BlockingReader::Current() { return tCurrent; }

BlockingReader::Scope::Scope(BlockingReader& reader) : previous_(tCurrent) { tCurrent = &reader; }
BlockingReader::Scope::~Scope() { tCurrent = previous_; }

void BlockingReader::Begin(const char* received, size_t count) {
  guard_.Begin();
  preloaded_ = std::move(carried_);
  preloaded_.append(received, count);
  preloadedTaken_ = 0;
  carried_.clear();
}

ssize_t BlockingReader::Read(int fd, char* buffer, size_t length) {
  // libfcgi always reads into its whole 8 KiB buffer; a partial header held back from the last read must fit in front.
  if (length < FCGI_HEADER_LEN) {
    errno = EINVAL;
    return -1;
  }
  for (;;) {
    if (guard_.refusal() != 0) {
      errno = RefusalErrno(guard_);
      return -1;
    }
    if (guard_.inputEnded()) return 0;  // what follows is the next request's
    // Bytes of an incomplete header are held back until the header is whole: it may be a GET_VALUES record that
    // libfcgi must not see. New bytes land after room for them, and the guard moves everything to the front.
    size_t held = guard_.scanner().heldHeaderBytes();
    ssize_t count = ReadBeforeDeadline(fd, buffer + held, length - held);
    if (count <= 0) return count;
    size_t consumed;
    ssize_t shown =
        guard_.Filter(reinterpret_cast<unsigned char*>(buffer + held), static_cast<size_t>(count), buffer, &consumed);
    if (guard_.inputEnded()) Carry(buffer + held + consumed, static_cast<size_t>(count) - consumed);
    SendReplies(fd);
    if (shown < 0) errno = RefusalErrno(guard_);
    if (shown != 0) return shown;
    // Everything read was held back or answered here: read on, as a read that returned 0 would mean the end.
  }
}

// What was shown ends where raw's unconsumed tail begins, so the tail is intact. It goes before whatever is left of
// the preloaded bytes, which came after it.
void BlockingReader::Carry(const char* tail, size_t count) {
  carried_.assign(tail, count);
  carried_.append(preloaded_, preloadedTaken_);
  preloadedTaken_ = preloaded_.size();
}

ssize_t BlockingReader::ReadBeforeDeadline(int fd, char* buffer, size_t length) {
  if (preloadedTaken_ < preloaded_.size()) {
    size_t count = std::min(length, preloaded_.size() - preloadedTaken_);
    std::memcpy(buffer, preloaded_.data() + preloadedTaken_, count);
    preloadedTaken_ += count;
    return static_cast<ssize_t>(count);
  }
  for (;;) {
    ssize_t count = recv(fd, buffer, length, MSG_DONTWAIT);
    if (count >= 0) return count;
    if (errno == EINTR) continue;
    if (errno == ENOTSOCK) return read(fd, buffer, length);
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;

    int waitMs = -1;
    auto deadline = guard_.Deadline();
    if (deadline != std::chrono::steady_clock::time_point::max()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      waitMs = static_cast<int>(std::max<int64_t>(left.count(), 0));
    }
    pollfd readable = {fd, POLLIN, 0};
    int ready = waitMs == 0 ? 0 : poll(&readable, 1, waitMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return -1;
    if (ready > 0) continue;
    guard_.RefuseForTime();
    SendReplies(fd);
    errno = ETIMEDOUT;
    return -1;
  }
}

void BlockingReader::SendReplies(int fd) {
  std::string& replies = guard_.replies();
  if (replies.empty()) return;
  SendAll(fd, replies);
  replies.clear();
  if (guard_.shouldLinger()) LingerAfterReply(fd);
}

}  // namespace fcgi
