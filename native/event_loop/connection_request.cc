// The request through libfcgi: beginning it once its head is here, the app's reads, writes and end, and finishing it
// once its input has all come; and libfcgi's I/O, which goes to the connection's memory while a call runs. See
// connection.h.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "event_loop/connection.h"
#include "libfcgi/request.h"

namespace fcgi {

namespace {

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

void Connection::BeginRequest() {
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
    Move(Event::kClose);  // nothing to report: the connection ended or broke before a request, as libfcgi would skip it
    return;
  }
  // libfcgi keeps appStatus in the request object, so one request's exit status would leak into the next.
  request_.appStatus = 0;
  Move(Event::kBegun);
  owner_.OnRequest(*this);
}

int Connection::Read(char* buffer, int length, int* count) {
  *count = 0;
  if (state_ != State::kActive) return FCGX_CALL_SEQ_ERROR;
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
  if (state_ != State::kActive) return FCGX_CALL_SEQ_ERROR;
  if (peer_ == Peer::kGone) return EPIPE;
  FCGX_Stream* stream = toStderr ? request_.err : request_.out;
  Scope scope(*this);
  if (length > 0 && FCGX_PutStr(data, length, stream) != length) return StreamError(stream);
  return 0;
}

int Connection::End(int exitStatus) {
  if (state_ != State::kActive) return FCGX_CALL_SEQ_ERROR;
  FCGX_SetExitStatus(exitStatus, request_.out);
  Move(Event::kEnded);
  bool broken = peer_ == Peer::kGone;
  Progress();
  return broken ? EPIPE : 0;
}

bool Connection::Send() {
  // libfcgi would hold the writes until its 8 KiB buffer fills.
  if (state_ == State::kActive && peer_ != Peer::kGone) {
    Scope scope(*this);
    FCGX_FFlush(request_.err);
    FCGX_FFlush(request_.out);
  }
  Flush();
  UpdateWatch();
  waits_.drain = OutputWaiting() >= kOutputHighWater;
  return waits_.drain;
}

int Connection::StartData() {
  if (state_ != State::kActive || request_.role != FCGI_FILTER || inFlight_.dataStarted) return FCGX_CALL_SEQ_ERROR;
  int code = SkipToData();
  if (code == kLater) {
    waits_.data = true;
    UpdateWatch();
  }
  return code;
}

// StartData's work without its check of the app's call: TryFinish comes here too, in kFinishing, for a filter request
// whose app never asked for its FCGI_DATA.
int Connection::SkipToData() {
  int code = SkipToEnd();
  if (code != 0) return code;  // kLater included
  Scope scope(*this);
  if (FCGX_StartFilterData(request_.in) != 0) return FCGX_GetError(request_.in);
  inFlight_.dataStarted = true;
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
// freed, and Move decides whether the connection is kept. False while the body is still coming.
bool Connection::TryFinish() {
  if (!inFlight_.aborted && peer_ == Peer::kOpen && inFlight_.inputError == 0) {
    int code = request_.role == FCGI_FILTER && !inFlight_.dataStarted ? SkipToData() : 0;
    if (code == 0) code = SkipToEnd();
    if (code == kLater) return false;
    if (code != 0) FailInput(code);
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
  if (failed || closedByLibfcgi_) Move(Event::kNotKept);
  Move(Event::kFinished);
  return true;
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
  if (inFlight_.inputError != 0) {
    errno = inFlight_.inputError > 0 ? inFlight_.inputError : EPROTO;
    return -1;
  }
  if (peer_ != Peer::kOpen || guard_.refusal() != 0) return 0;  // libfcgi takes it for the protocol error it is
  errno = EAGAIN;
  return -1;
}

int Connection::WriteForLibfcgi(const char* data, size_t length) {
  if (peer_ != Peer::kGone && !SocketClosed()) output_.append(data, length);
  return static_cast<int>(length);
}

void Connection::CloseForLibfcgi() { closedByLibfcgi_ = true; }

}  // namespace fcgi
