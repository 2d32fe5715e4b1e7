// One libfcgi request and its lifecycle: begin on a connection the addon accepted, read, write, finish with the body
// drained. Plain C++ that returns result codes (see errors.h), so every binding on top of it shares one behaviour.
#include "accept_loop/request_slot.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace fcgi {

namespace {

// libfcgi's close lingers in select() for up to 2 s (and select() overflows on fds above 1023) unless the request is
// "detached"; the addon closes connections itself, so it always takes the plain close().
void UsePlainClose(FCGX_Request& request) { request.detached = 1; }

}  // namespace

RequestSlot::RequestSlot(const GuardLimits& limits) : guard_(limits) {
  // listen_sock -1: libfcgi never accepts by itself. The addon hands it connections through ipcFd, and if a connection
  // breaks before a request begins, libfcgi's retry fails at once (EBADF) and control comes back here.
  FCGX_InitRequest(&request_, -1, 0);
  UsePlainClose(request_);
}

RequestSlot::~RequestSlot() {
  if (active_) Finish();
  CloseConnection();
}

int RequestSlot::Accept(int listenFd, const AllowList& allow, const StopWhen& stop) {
  if (active_) Finish();
  guard_.Begin();  // forget an earlier refusal: only one met by this call is reported
  for (;;) {
    int fd = request_.ipcFd;  // the kept connection, if the last request asked to keep it
    ssize_t received = 0;
    if (fd >= 0 && reader_.carrying()) {
      // The next request came with the last one: it begins from what was carried.
    } else if (fd >= 0) {
      received = ReceiveToServe(fd, firstBytes_, sizeof(firstBytes_), stop, &receiveTimeoutMs_);
      if (received <= 0) {
        CloseConnection();
        if (received < 0) return static_cast<int>(-received);
        continue;  // the web server closed the kept connection: wait for a new one
      }
    } else {
      fd = AcceptConnection(listenFd, allow, stop);
      if (fd < 0) return -fd;
      receiveTimeoutMs_ = 0;
    }
    // A connection that ends or breaks before a request begins is closed by libfcgi: wait for the next one.
    int code = Begin(fd, firstBytes_, static_cast<size_t>(received));
    if (code == 0 || guard_.refusal() != 0) return code;
  }
}

int RequestSlot::Begin(int connectionFd, const char* received, size_t receivedCount) {
  request_.ipcFd = connectionFd;
  // keepConnection = 1 stops FCGX_Accept_r's opening finish from closing the connection handed to it.
  request_.keepConnection = 1;
  UsePlainClose(request_);
  reader_.Begin(received, receivedCount);
  BlockingReader::Scope guarded(reader_);
  if (FCGX_Accept_r(&request_) != 0) {
    request_.ipcFd = -1;  // libfcgi closed it
    return guard_.refusal() != 0 ? guard_.refusal() : FCGX_PROTOCOL_ERROR;
  }
  // libfcgi takes a read error or the peer's close between two parameters for the end of PARAMS and begins the
  // request with what it got; such a request was cut short (or refused by the guard): drop it and the connection.
  if (FCGX_GetError(request_.in) != 0 || guard_.refusal() != 0) {
    int code = guard_.refusal() != 0 ? guard_.refusal() : FCGX_GetError(request_.in);
    FCGX_Free(&request_, 1);
    request_.ipcFd = -1;
    return code;
  }
  // libfcgi keeps appStatus in the request object, so one request's exit status would leak into the next.
  request_.appStatus = 0;
  active_ = true;
  filterDataStarted_ = false;
  return 0;
}

int RequestSlot::Read(char* buffer, int length, int* count) {
  BlockingReader::Scope guarded(reader_);
  *count = 0;
  if (!active_) return FCGX_CALL_SEQ_ERROR;
  int got = FCGX_GetStr(buffer, length, request_.in);
  *count = got;
  if (got < length && FCGX_GetError(request_.in) != 0) return FCGX_GetError(request_.in);
  return 0;
}

int RequestSlot::Write(const char* data, int length) {
  if (!active_) return FCGX_CALL_SEQ_ERROR;
  return FCGX_PutStr(data, length, request_.out) == length ? 0 : StreamError(request_.out);
}

int RequestSlot::WriteStderr(const char* data, int length) {
  if (!active_) return FCGX_CALL_SEQ_ERROR;
  return FCGX_PutStr(data, length, request_.err) == length ? 0 : StreamError(request_.err);
}

int RequestSlot::Flush() {
  if (!active_) return FCGX_CALL_SEQ_ERROR;
  if (FCGX_FFlush(request_.err) != 0) return StreamError(request_.err);
  if (FCGX_FFlush(request_.out) != 0) return StreamError(request_.out);
  return 0;
}

void RequestSlot::SetExitStatus(int status) {
  if (active_) FCGX_SetExitStatus(status, request_.out);
}

int RequestSlot::SkipInput() {
  char scratch[8192];
  int count;
  int code;
  do {
    code = Read(scratch, sizeof(scratch), &count);
  } while (code == 0 && count == static_cast<int>(sizeof(scratch)));
  return code;
}

int RequestSlot::StartFilterData() {
  BlockingReader::Scope guarded(reader_);
  if (!active_ || request_.role != FCGI_FILTER || filterDataStarted_) return FCGX_CALL_SEQ_ERROR;
  int code = SkipInput();
  if (code != 0) return code;
  if (FCGX_StartFilterData(request_.in) != 0) return FCGX_GetError(request_.in);
  filterDataStarted_ = true;
  return 0;
}

int RequestSlot::DrainInput() {
  BlockingReader::Scope guarded(reader_);
  if (request_.role == FCGI_FILTER && !filterDataStarted_) {
    int code = StartFilterData();
    if (code != 0) return code;
  }
  return SkipInput();
}

int RequestSlot::Finish() {
  if (!active_) return FCGX_CALL_SEQ_ERROR;
  int inputError = DrainInput();
  int errError = FCGX_FClose(request_.err) != 0 ? StreamError(request_.err) : 0;
  int outError = FCGX_FClose(request_.out) != 0 ? StreamError(request_.out) : 0;
  // A web server that gave up on the request after its body (FCGI_ABORT_REQUEST) has its END_REQUEST, then the
  // connection closes, as under the event loop.
  bool keep = request_.keepConnection != 0 && !reader_.AbortFollows();
  int fd = request_.ipcFd;
  // Let libfcgi free the streams and parameters but keep the fd: the addon decides whether to close it.
  request_.keepConnection = 1;
  UsePlainClose(request_);
  FCGX_Finish_r(&request_);
  active_ = false;
  int firstError = outError != 0 ? outError : (errError != 0 ? errError : inputError);
  // libfcgi closes the connection itself when a stream met an error (and sets ipcFd to -1): closing the saved number
  // again could close whatever the process has opened under that number since (a file, the next connection).
  bool closedByLibfcgi = request_.ipcFd < 0;
  if (!closedByLibfcgi && (!keep || firstError != 0)) {
    close(fd);
    request_.ipcFd = -1;
  }
  if (request_.ipcFd < 0) reader_.Forget();
  request_.keepConnection = 0;
  ReturnFreedMemory();
  return firstError;
}

void RequestSlot::CloseConnection() {
  if (active_) Finish();
  reader_.Forget();
  if (request_.ipcFd >= 0) {
    close(request_.ipcFd);
    request_.ipcFd = -1;
  }
}

}  // namespace fcgi
