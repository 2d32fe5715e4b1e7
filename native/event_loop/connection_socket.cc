// The connection's socket: what arrives is received and handed to the record guard, what libfcgi wrote is sent, and
// libuv watches the socket only for what the connection waits for, and times its deadline. See connection.h.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "event_loop/connection.h"

namespace fcgi {

namespace {

constexpr int kReceivesPerWake = 16;  // then other connections get their turn

}  // namespace

void Connection::Receive() {
  char buffer[kChunk];
  for (int i = 0; i < kReceivesPerWake; i++) {
    ssize_t count = recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (count > 0) {
      raw_.append(buffer, static_cast<size_t>(count));
      if (static_cast<size_t>(count) < sizeof(buffer)) break;
      // Keep the held bytes bounded while a body streams in.
      if (Busy()) FeedGuard();
      if (raw_.size() >= kInputHighWater || input_.size() - inputRead_ >= kInputHighWater) break;
      continue;
    }
    if (count < 0 && errno == EINTR) continue;
    if (count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    Move(Event::kPeerEnded);  // the end of the stream, or the connection broke
    break;
  }
}

bool Connection::FeedGuard() {
  size_t before = input_.size();
  if (!raw_.empty()) {
    size_t used = guard_.Feed(reinterpret_cast<const unsigned char*>(raw_.data()), raw_.size(), input_);
    raw_.erase(0, used);
  }
  // What the guard answers itself: GET_VALUES results, a refusal's response.
  if (!guard_.replies().empty()) {
    if (peer_ != Peer::kGone && !SocketClosed()) output_ += guard_.replies();
    guard_.replies().clear();
  }
  return input_.size() > before;
}

void Connection::Flush() {
  while (OutputWaiting() > 0 && !SocketClosed() && peer_ != Peer::kGone) {
    ssize_t sent = send(fd_, output_.data() + outputSent_, OutputWaiting(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent > 0) {
      outputSent_ += static_cast<size_t>(sent);
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    Move(Event::kPeerGone);  // what the app still writes goes nowhere
  }
  if (OutputWaiting() == 0 || peer_ == Peer::kGone || SocketClosed()) {
    output_.clear();
    outputSent_ = 0;
  }
}

void Connection::CloseSocket() {
  output_.clear();
  outputSent_ = 0;
  if (watched_ >= 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnHandleClosed);
  } else {
    close(fd_);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnHandleClosed);
}

void Connection::UpdateWatch() {
  if (SocketClosed()) return;
  bool full = Busy() && (input_.size() - inputRead_ >= kInputHighWater || raw_.size() >= kInputHighWater);
  full = full || OutputWaiting() >= kOutputReadStop;
  int events = 0;
  if (peer_ == Peer::kOpen) events |= full ? UV_DISCONNECT : UV_READABLE | UV_DISCONNECT;
  if (OutputWaiting() > 0) events |= UV_WRITABLE;
  if (watched_ < 0 && events != 0) {
    int code = uv_poll_init(loop_, &poll_, fd_);
    if (code != 0) {  // not pollable (cannot happen to an accepted socket): give the connection up
      Move(Event::kPeerGone);
      Move(Event::kClose);
      Move(Event::kFlushed);
      return;
    }
    poll_.data = this;
    watched_ = 0;
    openHandles_++;
  }
  if (watched_ < 0) return;
  if (events != watched_) {
    if (events == 0) {
      uv_poll_stop(&poll_);
    } else {
      uv_poll_start(&poll_, events, OnPoll);
    }
    watched_ = events;
  }
  // An idle connection keeps the process alive only while the server is ref()ed, as a listening socket does.
  if ((state_ == State::kNew || state_ == State::kIdle) && !owner_.Refed()) {
    uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  } else {
    uv_ref(reinterpret_cast<uv_handle_t*>(&poll_));
  }
}

void Connection::UpdateTimer() {
  if (SocketClosed()) return;
  using Clock = std::chrono::steady_clock;
  Clock::time_point deadline = Clock::time_point::max();
  if (state_ == State::kLingering) {
    deadline = lingerUntil_;
  } else if (state_ == State::kFirstHead || state_ == State::kHead || Busy()) {
    deadline = guard_.Deadline();
  } else if (AwaitsFirstRequestWhileClosing()) {
    deadline = firstRequestUntil_;
  }
  if (deadline == timerDeadline_) return;
  if (deadline == Clock::time_point::max()) {
    uv_timer_stop(&timer_);
  } else {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count() + 1;
    uv_timer_start(&timer_, OnTimer, static_cast<uint64_t>(left > 0 ? left : 0), 0);
  }
  timerDeadline_ = deadline;
}

}  // namespace fcgi
