// One FastCGI connection served on Node's event loop, with libfcgi as its codec. See connection.h.
#include "event_loop/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "libfcgi/request.h"

namespace fcgi {

namespace {

constexpr size_t kReceiveChunk = 64 * 1024;
constexpr int kReceivesPerWake = 16;            // then other connections get their turn
constexpr size_t kInputHighWater = 256 * 1024;  // body bytes held for the app before the socket is left unread
constexpr size_t kOutputHighWater = 64 * 1024;  // output waiting before writers are asked to wait
constexpr auto kLinger = std::chrono::milliseconds(2000);

thread_local Connection* tCurrent = nullptr;

// libfcgi's reader found nothing to read (our OS_Read said EAGAIN): that is "not yet", not the error it records.
bool TakeBackWait(FCGX_Stream* stream) {
  if (FCGX_GetError(stream) != EAGAIN) return false;
  FCGX_ClearError(stream);
  stream->isClosed = 0;  // FillBuffProc marked it closed with the error; it was open before
  // FillBuffProc may have skipped padding before it had to read, leaving rdNext past the last content it delivered:
  // nothing is buffered for the reader now.
  stream->stop = stream->rdNext;
  return true;
}

}  // namespace

// Routes libfcgi's I/O to this connection for the duration of a call into libfcgi.
class Connection::Scope {
 public:
  explicit Scope(Connection& connection) : previous_(tCurrent) { tCurrent = &connection; }
  ~Scope() { tCurrent = previous_; }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Connection* previous_;
};

Connection* Connection::Current() { return tCurrent; }

Connection::Connection(ConnectionOwner& owner, uv_loop_t* loop, int fd, const GuardLimits& limits)
    : owner_(owner), loop_(loop), fd_(fd), guard_(limits) {
  // listen_sock -1: libfcgi never accepts by itself; if a connection breaks before a request begins, its retry fails
  // at once (EBADF) and control comes back here.
  FCGX_InitRequest(&request_, -1, 0);
  request_.detached = 1;
  timer_.data = this;
}

Connection::~Connection() {
  if (request_.in != nullptr) FCGX_Free(&request_, 0);
}

void Connection::Start() {
  uv_timer_init(loop_, &timer_);
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));  // a deadline alone never keeps the process alive
  openHandles_++;
  // A web server writes the request as soon as it has connected, so it is usually here by the time of accept().
  inCallback_ = true;
  Receive();
  Progress();
  inCallback_ = false;
}

void Connection::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* connection = static_cast<Connection*>(handle->data);
  connection->inCallback_ = true;
  if (status < 0) {
    connection->peerEnded_ = true;
  } else {
    if (events & UV_WRITABLE) connection->Flush();
    if (events & UV_READABLE) {
      connection->Receive();
    } else if (events & UV_DISCONNECT) {
      connection->peerEnded_ = true;  // while the body is left unread: the web server gave up
    }
  }
  connection->Progress();
  connection->inCallback_ = false;
}

void Connection::OnTimer(uv_timer_t* handle) {
  auto* connection = static_cast<Connection*>(handle->data);
  connection->timerArmed_ = false;
  connection->inCallback_ = true;
  connection->Expire();
  connection->Progress();
  connection->inCallback_ = false;
}

void Connection::Wake() {
  if (!scheduled_) {
    scheduled_ = true;
    owner_.Schedule(*this);
  }
}

void Connection::RunSoon() {
  scheduled_ = false;
  if (ReadyToRelease()) {
    phase_ = Phase::kReleased;
    owner_.OnClosed(*this);  // deletes this
    return;
  }
  inCallback_ = true;
  Progress();
  inCallback_ = false;
}

void Connection::OnHandleClosed(uv_handle_t* handle) {
  auto* connection = static_cast<Connection*>(handle->data);
  if (handle == reinterpret_cast<uv_handle_t*>(&connection->poll_)) close(connection->fd_);  // after libuv let go
  if (--connection->openHandles_ > 0 || connection->scheduled_) return;
  if (connection->ReadyToRelease()) {
    connection->phase_ = Phase::kReleased;
    connection->owner_.OnClosed(*connection);  // deletes it
  }
}

bool Connection::ReadyToRelease() const { return phase_ == Phase::kClosed && openHandles_ == 0; }

bool Connection::CanNotify() {
  if (inCallback_) return true;
  if (!scheduled_) {
    scheduled_ = true;
    owner_.Schedule(*this);
  }
  return false;
}

void Connection::Receive() {
  char buffer[kReceiveChunk];
  for (int i = 0; i < kReceivesPerWake; i++) {
    ssize_t count = recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (count > 0) {
      raw_.append(buffer, static_cast<size_t>(count));
      if (static_cast<size_t>(count) < sizeof(buffer)) break;
      // Keep the held bytes bounded while a body streams in.
      if (phase_ == Phase::kActive || phase_ == Phase::kFinishing) FeedGuard();
      if (raw_.size() >= kInputHighWater || input_.size() - inputRead_ >= kInputHighWater) break;
      continue;
    }
    if (count < 0 && errno == EINTR) continue;
    if (count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    peerEnded_ = true;  // the end of the stream, or the connection broke
    break;
  }
}

void Connection::Progress() {
  if (inProgress_) {
    progressAgain_ = true;
    return;
  }
  inProgress_ = true;
  do {
    progressAgain_ = false;
    Step();
    Flush();
    // Sending what Step wrote may be what a writer waits for.
    if (phase_ == Phase::kActive && waits_.drain && output_.size() - outputSent_ < kOutputHighWater) {
      if (inCallback_) {
        progressAgain_ = true;
      } else {
        CanNotify();
      }
    }
  } while (progressAgain_);
  inProgress_ = false;
  if (phase_ == Phase::kClosing) {
    bool sent = outputSent_ == output_.size();
    if (peerEnded_ || outputBroken_ || (sent && !lingerWhenSent_)) {
      CloseSocket();
    } else if (sent) {
      shutdown(fd_, SHUT_WR);
      phase_ = Phase::kLingering;
      lingerUntil_ = std::chrono::steady_clock::now() + kLinger;
    }
  } else if (phase_ == Phase::kLingering && (peerEnded_ || outputBroken_)) {
    CloseSocket();
  }
  UpdateWatch();
  UpdateTimer();
  if (ReadyToRelease() && !scheduled_) {  // the socket closed while the app had the request: released from RunSoon
    scheduled_ = true;
    owner_.Schedule(*this);
  }
}

void Connection::Step() {
  switch (phase_) {
    case Phase::kIdle:
    case Phase::kHead:
      StepHead();
      return;
    case Phase::kActive:
      StepActive();
      return;
    case Phase::kFinishing:
      FeedGuard();
      if (guard_.refusal() != 0 && inputError_ == 0) inputError_ = guard_.refusal();
      if (TryFinish()) progressAgain_ = true;
      return;
    case Phase::kClosing:
    case Phase::kLingering:
      raw_.clear();  // what still comes is read and dropped
      return;
    case Phase::kClosed:
    case Phase::kReleased:
      return;
  }
}

void Connection::StepHead() {
  if (guard_.refusal() != 0) {  // headersTimeout, from the timer
    Refused();
    return;
  }
  if (!raw_.empty()) {
    if (phase_ == Phase::kIdle) {
      guard_.Begin();  // the next request's first byte: its clock starts
      phase_ = Phase::kHead;
    }
    FeedGuard();
    if (guard_.refusal() != 0) {
      Refused();
      return;
    }
    if (guard_.idle()) phase_ = Phase::kIdle;  // only management records came: no request's clock runs yet
  }
  if (phase_ == Phase::kIdle || !guard_.paramsEnded()) {
    // Closing, and what had begun to arrive was only management records: nothing is left to serve.
    if (peerEnded_ || (closeAfterRequest_ && phase_ == Phase::kIdle && !fresh_)) StartClosing();
    return;
  }
  // The head is here (it may have waited for a request in flight to end, see MayBegin).
  if (!owner_.MayBegin(*this) || !CanNotify()) return;
  BeginRequest();
  progressAgain_ = true;
}

void Connection::StepActive() {
  FeedGuard();
  if (guard_.refusal() != 0 && inputError_ == 0) inputError_ = guard_.refusal();
  // libfcgi takes all of input_ whenever it reads, so bytes there mean a waiting read can move on.
  bool readable = input_.size() > inputRead_ || peerEnded_ || inputError_ != 0;
  // Once the input has ended the guard holds what follows; an FCGI_ABORT_REQUEST for this request shows there.
  bool abortHeld = guard_.scanner().AbortFollows(reinterpret_cast<const unsigned char*>(raw_.data()), raw_.size());
  // Gives the owner one notice; false when Step stops here: the owner may not be called now (RunSoon comes back),
  // or the request ended under the notice (progressAgain_ takes it from there).
  auto notify = [this](auto give) {
    if (!CanNotify()) return false;
    give();
    if (phase_ == Phase::kActive) return true;
    progressAgain_ = true;
    return false;
  };
  if (!aborted_ && (guard_.scanner().abortSeen() || abortHeld || peerEnded_) && !notify([this] {
        aborted_ = true;
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
  if (waits_.drain && output_.size() - outputSent_ < kOutputHighWater) {
    notify([this] {
      waits_.drain = false;
      owner_.OnDrained(*this);
    });
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
    if (!outputBroken_ && !SocketClosed()) output_ += guard_.replies();
    guard_.replies().clear();
  }
  return input_.size() > before;
}

bool Connection::AwaitsFirstRequestWhileClosing() const {
  return phase_ == Phase::kIdle && fresh_ && closeAfterRequest_;
}

void Connection::BeginRequest() {
  fresh_ = false;
  int code = 0;
  {
    Scope scope(*this);
    request_.ipcFd = fd_;
    // keepConnection = 1 stops FCGX_Accept_r's opening finish from closing the connection handed to it.
    request_.keepConnection = 1;
    request_.detached = 1;
    closedByLibfcgi_ = false;
    if (FCGX_Accept_r(&request_) != 0 || closedByLibfcgi_) {
      code = guard_.refusal() != 0 ? guard_.refusal() : FCGX_PROTOCOL_ERROR;
    } else if (FCGX_GetError(request_.in) != 0 && !TakeBackWait(request_.in)) {
      // libfcgi takes an error between two parameters for the end of PARAMS and begins the request with what it got.
      code = FCGX_GetError(request_.in);
      FCGX_Free(&request_, 0);
    }
  }
  if (code != 0) {
    request_.ipcFd = -1;
    StartClosing();  // nothing to report: the connection ended or broke before a request, as libfcgi would skip it
    return;
  }
  // libfcgi keeps appStatus in the request object, so one request's exit status would leak into the next.
  request_.appStatus = 0;
  keepConn_ = request_.keepConnection != 0;
  phase_ = Phase::kActive;
  dataStarted_ = false;
  aborted_ = false;
  inputError_ = 0;
  waits_ = {};
  owner_.OnRequest(*this);
}

void Connection::Refused() {
  if (!CanNotify()) return;
  owner_.OnRefused(guard_.refusal(), guard_.refusalMessage());
  FeedGuard();  // takes the refusal's response
  lingerWhenSent_ = guard_.shouldLinger();
  StartClosing();
}

int Connection::Read(char* buffer, int length, int* count) {
  *count = 0;
  if (phase_ != Phase::kActive) return FCGX_CALL_SEQ_ERROR;
  if (length <= 0) return 0;
  int got = 0;
  {
    Scope scope(*this);
    FCGX_Stream* in = request_.in;
    if (in->rdNext == in->stop) {
      int first = FCGX_GetChar(in);
      if (first == EOF) {
        if (TakeBackWait(in)) {
          waits_.read = true;
          UpdateWatch();
          return kLater;
        }
        return FCGX_GetError(in);  // 0 at the end of the stream
      }
      buffer[got++] = static_cast<char>(first);
    }
    int buffered = std::min(static_cast<int>(in->stop - in->rdNext), length - got);
    std::memcpy(buffer + got, in->rdNext, buffered);
    in->rdNext += buffered;
    got += buffered;
  }
  *count = got;
  UpdateWatch();  // what was read may make room for more
  return 0;
}

int Connection::Write(const char* data, int length, bool toStderr) {
  if (phase_ != Phase::kActive) return FCGX_CALL_SEQ_ERROR;
  if (outputBroken_) return EPIPE;
  FCGX_Stream* stream = toStderr ? request_.err : request_.out;
  Scope scope(*this);
  if (length > 0 && FCGX_PutStr(data, length, stream) != length) return StreamError(stream);
  return 0;
}

int Connection::End(int exitStatus) {
  if (phase_ != Phase::kActive) return FCGX_CALL_SEQ_ERROR;
  FCGX_SetExitStatus(exitStatus, request_.out);
  phase_ = Phase::kFinishing;
  waits_ = {};
  bool broken = outputBroken_;
  Progress();
  return broken ? EPIPE : 0;
}

bool Connection::Send() {
  // libfcgi would hold the writes until its 8 KiB buffer fills.
  if (phase_ == Phase::kActive && !outputBroken_) {
    Scope scope(*this);
    FCGX_FFlush(request_.err);
    FCGX_FFlush(request_.out);
  }
  Flush();
  UpdateWatch();
  waits_.drain = output_.size() - outputSent_ >= kOutputHighWater;
  return waits_.drain;
}

int Connection::StartData() {
  if (phase_ != Phase::kActive || request_.role != FCGI_FILTER || dataStarted_) return FCGX_CALL_SEQ_ERROR;
  int code = SkipToEnd();
  if (code == kLater) {
    waits_.data = true;
    UpdateWatch();
    return kLater;
  }
  if (code != 0) return code;
  Scope scope(*this);
  if (FCGX_StartFilterData(request_.in) != 0) return FCGX_GetError(request_.in);
  dataStarted_ = true;
  return 0;
}

int Connection::SkipToEnd() {
  Scope scope(*this);
  char scratch[8192];
  for (;;) {
    int got = FCGX_GetStr(scratch, sizeof(scratch), request_.in);
    if (got == static_cast<int>(sizeof(scratch))) continue;
    if (TakeBackWait(request_.in)) return kLater;
    return FCGX_GetError(request_.in);
  }
}

// Ends the request once its input has all come (or cannot come any more): END_REQUEST goes, libfcgi's memory is
// freed, and the connection waits for the next request or closes. False while the body is still coming.
bool Connection::TryFinish() {
  if (!aborted_ && !peerEnded_ && inputError_ == 0) {
    int code = request_.role == FCGI_FILTER && !dataStarted_ ? StartData() : 0;
    if (code == 0) code = SkipToEnd();
    if (code == kLater) return false;
    if (code != 0) inputError_ = code;
  }
  bool failed = false;
  {
    Scope scope(*this);
    failed |= FCGX_FClose(request_.err) != 0;
    failed |= FCGX_FClose(request_.out) != 0;
    // Let libfcgi free the streams and parameters but keep the connection: whether it stays is decided here.
    request_.keepConnection = 1;
    request_.detached = 1;
    closedByLibfcgi_ = false;
    FCGX_Finish_r(&request_);
  }
  request_.ipcFd = -1;
  request_.keepConnection = 0;
  ReturnFreedMemory();
  bool keep = keepConn_ && !failed && !closedByLibfcgi_ && !aborted_ && !peerEnded_ && !outputBroken_ &&
              inputError_ == 0 && !closeAfterRequest_;
  if (keep) {
    phase_ = Phase::kIdle;
  } else {
    StartClosing();
  }
  return true;
}

void Connection::Expire() {
  if (phase_ == Phase::kLingering && std::chrono::steady_clock::now() >= lingerUntil_) {
    peerEnded_ = true;  // lingered long enough: close
    return;
  }
  if (AwaitsFirstRequestWhileClosing()) {
    if (std::chrono::steady_clock::now() >= firstRequestUntil_) StartClosing();  // nothing came: close after all
    return;
  }
  if (guard_.refusal() == 0 && std::chrono::steady_clock::now() >= guard_.Deadline()) guard_.RefuseForTime();
}

void Connection::RefChanged() { UpdateWatch(); }

void Connection::CloseWhenIdle() {
  closeAfterRequest_ = true;
  // Busy, or a request's head has begun to arrive (the guard's clock bounds it): closes after that request.
  if (phase_ != Phase::kIdle) return;
  if (fresh_) {
    // Web servers write the request right after connecting, so a new connection's first request is on its way:
    // closing now would lose it (a restart in place closes the server between a connect and its first bytes).
    firstRequestUntil_ = std::chrono::steady_clock::now() + kFirstRequestGrace;
    UpdateTimer();
    return;
  }
  StartClosing();
  Progress();
}

void Connection::StartClosing() {
  phase_ = Phase::kClosing;
  raw_.clear();
}

void Connection::Flush() {
  while (outputSent_ < output_.size() && !SocketClosed() && !outputBroken_) {
    ssize_t sent = send(fd_, output_.data() + outputSent_, output_.size() - outputSent_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent > 0) {
      outputSent_ += static_cast<size_t>(sent);
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    outputBroken_ = true;  // the peer is gone: what the app still writes goes nowhere
    peerEnded_ = true;
  }
  if (outputSent_ == output_.size() || outputBroken_ || SocketClosed()) {
    output_.clear();
    outputSent_ = 0;
  }
}

void Connection::CloseSocket() {
  if (SocketClosed()) return;
  phase_ = Phase::kClosed;
  output_.clear();
  outputSent_ = 0;
  if (polled_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnHandleClosed);
  } else {
    close(fd_);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnHandleClosed);
}

void Connection::UpdateWatch() {
  if (SocketClosed()) return;
  bool busy = phase_ == Phase::kActive || phase_ == Phase::kFinishing;
  bool full = busy && (input_.size() - inputRead_ >= kInputHighWater || raw_.size() >= kInputHighWater);
  // A peer that sends (GET_VALUES, say) without reading the answers is not read from until it does.
  full = full || output_.size() - outputSent_ >= kInputHighWater;
  int events = 0;
  if (!peerEnded_) events |= full ? UV_DISCONNECT : UV_READABLE | UV_DISCONNECT;
  if (outputSent_ < output_.size()) events |= UV_WRITABLE;
  if (!polled_ && events != 0) {
    int code = uv_poll_init(loop_, &poll_, fd_);
    if (code != 0) {  // not pollable (cannot happen to an accepted socket): give the connection up
      peerEnded_ = true;
      outputBroken_ = true;
      StartClosing();
      CloseSocket();
      return;
    }
    poll_.data = this;
    polled_ = true;
    openHandles_++;
  }
  if (!polled_) return;
  if (events != watched_) {
    if (events == 0) {
      uv_poll_stop(&poll_);
    } else {
      uv_poll_start(&poll_, events, OnPoll);
    }
    watched_ = events;
  }
  // An idle connection keeps the process alive only while the server is ref()ed, as a listening socket does.
  if (phase_ == Phase::kIdle && !owner_.Refed()) {
    uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  } else {
    uv_ref(reinterpret_cast<uv_handle_t*>(&poll_));
  }
}

void Connection::UpdateTimer() {
  if (SocketClosed()) return;
  using Clock = std::chrono::steady_clock;
  Clock::time_point deadline = Clock::time_point::max();
  if (phase_ == Phase::kLingering) {
    deadline = lingerUntil_;
  } else if (phase_ == Phase::kHead || phase_ == Phase::kActive || phase_ == Phase::kFinishing) {
    deadline = guard_.Deadline();
  } else if (AwaitsFirstRequestWhileClosing()) {
    deadline = firstRequestUntil_;
  }
  if (deadline == Clock::time_point::max()) {
    if (timerArmed_) uv_timer_stop(&timer_);
    timerArmed_ = false;
    return;
  }
  if (timerArmed_ && deadline == timerDeadline_) return;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count() + 1;
  uv_timer_start(&timer_, OnTimer, static_cast<uint64_t>(left > 0 ? left : 0), 0);
  timerArmed_ = true;
  timerDeadline_ = deadline;
}

int Connection::ReadForLibfcgi(char* buffer, size_t length) {
  size_t available = input_.size() - inputRead_;
  if (available > 0) {
    size_t count = std::min(available, length);
    std::memcpy(buffer, input_.data() + inputRead_, count);
    inputRead_ += count;
    if (inputRead_ == input_.size()) {
      input_.clear();
      inputRead_ = 0;
    }
    return static_cast<int>(count);
  }
  if (inputError_ != 0) {
    errno = inputError_ > 0 ? inputError_ : EPROTO;
    return -1;
  }
  if (peerEnded_ || guard_.refusal() != 0) return 0;  // libfcgi takes it for the protocol error it is
  errno = EAGAIN;
  return -1;
}

int Connection::WriteForLibfcgi(const char* data, size_t length) {
  if (!outputBroken_ && !SocketClosed()) output_.append(data, length);
  return static_cast<int>(length);
}

void Connection::CloseForLibfcgi() { closedByLibfcgi_ = true; }

}  // namespace fcgi
