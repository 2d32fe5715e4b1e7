// The connection's life: the libuv callbacks that wake it, Move (its one transition function), and the steps that
// take it as far as what has arrived allows. See connection.h; libfcgi's part is connection_request.cc, the socket's
// connection_socket.cc.
#include "event_loop/connection.h"

#include <sys/socket.h>
#include <unistd.h>

namespace fcgi {

namespace {

constexpr auto kLinger = std::chrono::milliseconds(2000);

}  // namespace

void Connection::Start() {
  uv_timer_init(loop_, &timer_);
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));  // a deadline alone never keeps the process alive
  openHandles_++;
  // A web server writes the request as soon as it has connected, so it is usually here by the time of accept().
  Reentry::Callback callback(reentry_);
  Receive();
  Progress();
}

void Connection::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* connection = static_cast<Connection*>(handle->data);
  Reentry::Callback callback(connection->reentry_);
  if (status < 0) {
    connection->Move(Event::kPeerEnded);
  } else {
    if (events & UV_WRITABLE) connection->Flush();
    if (events & UV_READABLE) {
      connection->Receive();
    } else if (events & UV_DISCONNECT) {
      connection->Move(Event::kPeerEnded);  // while the body is left unread: the web server gave up
    }
  }
  connection->Progress();
}

void Connection::OnTimer(uv_timer_t* handle) {
  auto* connection = static_cast<Connection*>(handle->data);
  connection->timerDeadline_ = std::chrono::steady_clock::time_point::max();
  Reentry::Callback callback(connection->reentry_);
  connection->Expire();
  connection->Progress();
}

void Connection::Wake() { ScheduleSoon(); }

void Connection::RunSoon() {
  reentry_.Ran();
  if (ReadyToRelease()) {
    Move(Event::kReleased);  // deletes this
    return;
  }
  Reentry::Callback callback(reentry_);
  Progress();
}

void Connection::OnHandleClosed(uv_handle_t* handle) {
  auto* connection = static_cast<Connection*>(handle->data);
  if (handle == reinterpret_cast<uv_handle_t*>(&connection->poll_)) close(connection->fd_);  // after libuv let go
  if (--connection->openHandles_ > 0 || connection->reentry_.scheduled()) return;
  if (connection->ReadyToRelease()) connection->Move(Event::kReleased);  // deletes it
}

void Connection::ScheduleSoon() {
  if (reentry_.Schedule()) owner_.Schedule(*this);
}

bool Connection::CanNotify() {
  if (reentry_.inCallback()) return true;
  ScheduleSoon();
  return false;
}

void Connection::Move(Event event) {
  switch (event) {
    case Event::kHeadBegins:  // from kNew or kIdle
      guard_.Begin();         // the request's clock starts
      state_ = state_ == State::kNew ? State::kFirstHead : State::kHead;
      return;
    case Event::kOnlyManagement:  // from kFirstHead or kHead: no request's clock runs yet
      state_ = state_ == State::kFirstHead ? State::kNew : State::kIdle;
      return;
    case Event::kBegun:
      state_ = State::kActive;
      keepConn_ = keepConn_ && request_.keepConnection != 0;
      inFlight_ = {};
      waits_ = {};
      return;
    case Event::kEnded:
      state_ = State::kFinishing;
      waits_ = {};
      return;
    case Event::kFinished:  // what rules keeping the connection out has cleared keepConn_ as it happened
      if (keepConn_) {
        state_ = State::kIdle;
      } else {
        Move(Event::kClose);
      }
      return;
    case Event::kNotKept:
      keepConn_ = false;
      return;
    case Event::kPeerEnded:
      if (peer_ == Peer::kOpen) peer_ = Peer::kEnded;  // a peer gone stays gone
      keepConn_ = false;
      return;
    case Event::kPeerGone:
      peer_ = Peer::kGone;
      keepConn_ = false;
      return;
    case Event::kClose:
    case Event::kRefused:
      state_ = event == Event::kClose ? State::kClosing : State::kRefusing;
      raw_.clear();  // what still comes is read and dropped
      return;
    case Event::kFlushed:
      if (state_ == State::kRefusing && peer_ == Peer::kOpen) {
        shutdown(fd_, SHUT_WR);
        state_ = State::kLingering;
        lingerUntil_ = std::chrono::steady_clock::now() + kLinger;
      } else if (state_ != State::kLingering || peer_ != Peer::kOpen) {
        CloseSocket();
        state_ = State::kClosed;
      }
      return;
    case Event::kReleased:
      state_ = State::kReleased;
      owner_.OnClosed(*this);  // deletes this
      return;
  }
}

void Connection::Progress() {
  if (!reentry_.Enter()) return;  // a round is running: it goes again
  do {
    Step();
    Flush();
    // Sending what Step wrote may be what a writer waits for.
    if (state_ == State::kActive && waits_.drain && OutputWaiting() < kOutputHighWater) {
      if (reentry_.inCallback()) {
        reentry_.AskAgain();
      } else {
        CanNotify();
      }
    }
  } while (reentry_.Again());
  bool closing = state_ == State::kClosing || state_ == State::kRefusing || state_ == State::kLingering;
  if (closing && (OutputWaiting() == 0 || peer_ != Peer::kOpen)) Move(Event::kFlushed);
  UpdateWatch();
  UpdateTimer();
  if (ReadyToRelease()) ScheduleSoon();  // the socket closed while the app had the request: released from RunSoon
}

void Connection::Step() {
  switch (state_) {
    case State::kNew:
    case State::kFirstHead:
    case State::kIdle:
    case State::kHead:
      StepHead();
      return;
    case State::kActive:
      StepActive();
      return;
    case State::kFinishing:
      FeedGuard();
      if (guard_.refusal() != 0) FailInput(guard_.refusal());
      // The app has ended the request, so an abort is not told: it only means the rest of the body will not come.
      if (!inFlight_.aborted && AbortArrived()) {
        inFlight_.aborted = true;
        Move(Event::kNotKept);
      }
      if (TryFinish()) reentry_.AskAgain();
      return;
    case State::kClosing:
    case State::kRefusing:
    case State::kLingering:
      raw_.clear();  // what still comes is read and dropped
      return;
    case State::kClosed:
    case State::kReleased:
      return;
  }
}

void Connection::StepHead() {
  if (guard_.refusal() != 0) {  // headersTimeout, from the timer
    Refused();
    return;
  }
  bool between = state_ == State::kNew || state_ == State::kIdle;
  if (!raw_.empty()) {
    if (between) Move(Event::kHeadBegins);  // the next request's first byte
    FeedGuard();
    if (guard_.refusal() != 0) {
      Refused();
      return;
    }
    if (guard_.idle()) Move(Event::kOnlyManagement);
    between = state_ == State::kNew || state_ == State::kIdle;
  }
  if (between || !guard_.paramsEnded()) {
    // The peer is gone, or the server is closing and what had begun to arrive was only management records (a new
    // connection has its grace instead, see Expire): nothing is left to serve.
    if (peer_ != Peer::kOpen || (state_ == State::kIdle && !keepConn_)) Move(Event::kClose);
    return;
  }
  // The head is here (it may have waited for a request in flight to end, see MayBegin).
  if (!owner_.MayBegin(*this) || !CanNotify()) return;
  BeginRequest();
  reentry_.AskAgain();
}

void Connection::StepActive() {
  FeedGuard();
  if (guard_.refusal() != 0) FailInput(guard_.refusal());
  // libfcgi takes all of input_ whenever it reads, so bytes there mean a waiting read can move on.
  bool readable = input_.size() > inputRead_ || peer_ != Peer::kOpen || inFlight_.inputError != 0;
  // Gives the owner one notice; false when Step stops here: the owner may not be called now (RunSoon comes back),
  // or the request ended under the notice (the round goes again from there).
  auto notify = [this](auto give) {
    if (!CanNotify()) return false;
    give();
    if (state_ == State::kActive) return true;
    reentry_.AskAgain();
    return false;
  };
  bool abort = AbortArrived() || peer_ != Peer::kOpen;
  if (!inFlight_.aborted && abort && !notify([this] {
        inFlight_.aborted = true;
        Move(Event::kNotKept);
        owner_.OnAborted(*this);
      })) {
    return;
  }
  if (waits_.read && readable && !notify([this] {
        waits_.read = false;
        owner_.OnInput(*this);
      })) {
    return;
  }
  if (waits_.data && readable && !notify([this] {
        waits_.data = false;
        int code = StartData();
        if (code != kLater) owner_.OnDataStarted(*this, code);
      })) {
    return;
  }
  if (waits_.drain && OutputWaiting() < kOutputHighWater) {
    notify([this] {
      waits_.drain = false;
      owner_.OnDrained(*this);
    });
  }
}

bool Connection::AbortArrived() const {
  // Once the input has ended the guard holds what follows; an FCGI_ABORT_REQUEST for this request shows there.
  const auto* held = reinterpret_cast<const unsigned char*>(raw_.data());
  return guard_.scanner().abortSeen() || guard_.scanner().AbortFollows(held, raw_.size());
}

void Connection::Refused() {
  if (!CanNotify()) return;
  owner_.OnRefused(guard_.refusal(), guard_.refusalMessage());
  FeedGuard();  // takes the refusal's response
  Move(guard_.shouldLinger() ? Event::kRefused : Event::kClose);
}

void Connection::FailInput(int code) {
  if (inFlight_.inputError == 0) inFlight_.inputError = code;
  Move(Event::kNotKept);
}

void Connection::Expire() {
  auto now = std::chrono::steady_clock::now();
  if (state_ == State::kLingering) {
    if (now >= lingerUntil_) Move(Event::kPeerEnded);  // lingered long enough: close
    return;
  }
  if (AwaitsFirstRequestWhileClosing()) {
    if (now >= firstRequestUntil_) Move(Event::kClose);  // nothing came: close after all
    return;
  }
  if (guard_.refusal() == 0 && now >= guard_.Deadline()) guard_.RefuseForTime();
}

void Connection::RefChanged() { UpdateWatch(); }

void Connection::CloseWhenIdle() {
  Move(Event::kNotKept);
  if (state_ == State::kNew) {
    // Web servers write the request right after connecting, so a new connection's first request is on its way:
    // closing now would lose it (a restart in place closes the server between a connect and its first bytes).
    firstRequestUntil_ = std::chrono::steady_clock::now() + kFirstRequestGrace;
    UpdateTimer();
    return;
  }
  // Busy, or a request's head has begun to arrive (the guard's clock bounds it): closes after that request.
  if (state_ != State::kIdle) return;
  Move(Event::kClose);
  Progress();
}

}  // namespace fcgi
