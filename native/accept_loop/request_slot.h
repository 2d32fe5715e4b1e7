// One libfcgi request and its lifecycle: begin on a connection the addon accepted, read, write, finish with the body
// drained. Plain C++ that returns result codes (see errors.h), so every binding on top of it shares one behaviour.
#pragma once
#include <fastcgi.h>
#include <fcgiapp.h>

#include "accept_loop/blocking_reader.h"
#include "accept_loop/waits.h"
#include "libfcgi/request.h"
#include "protocol/record_guard.h"

namespace fcgi {

class RequestSlot {
 public:
  explicit RequestSlot(const GuardLimits& limits);
  ~RequestSlot();
  RequestSlot(const RequestSlot&) = delete;
  RequestSlot& operator=(const RequestSlot&) = delete;

  // Finishes the current request if there is one, then waits for the next: on the kept connection when the web server
  // asked for FCGI_KEEP_CONN, else on a new connection from listenFd. Connections that end or break before a request
  // begins are closed and skipped, as libfcgi does.
  // It also stops waiting, returning the code of WaitToServe (waits.h), when `stop` says so.
  int Accept(int listenFd, const AllowList& allow, const StopWhen& stop = StopWhen());

  // Reads up to length bytes of FCGI_STDIN (FCGI_DATA after StartFilterData); *count < length only at the end.
  int Read(char* buffer, int length, int* count);
  int Write(const char* data, int length);
  int WriteStderr(const char* data, int length);
  int Flush();
  void SetExitStatus(int status);
  // Reads FCGI_STDIN to its end, discarding it.
  int SkipInput();
  // For the filter role: skips what is left of FCGI_STDIN and positions reads at the start of FCGI_DATA.
  int StartFilterData();

  // Ends the request: reads what is left of the body (the web server is still sending it, and on a kept connection it
  // would be taken for the next request), flushes, sends END_REQUEST with the exit status, and frees libfcgi's memory.
  // Returns the first error the request met, if any.
  int Finish();
  // Drops a kept connection (when the listener closes).
  void CloseConnection();

  bool active() const { return active_; }
  const FCGX_Request& fcgx() const { return request_; }
  const RecordGuard& guard() const { return guard_; }

 private:
  // Reads the BEGIN_REQUEST and PARAMS records of the next request on the connection, starting with the bytes the
  // wait for it received. On failure libfcgi has closed it.
  int Begin(int connectionFd, const char* received, size_t receivedCount);
  int DrainInput();

  FCGX_Request request_;
  RecordGuard guard_;
  BlockingReader reader_{guard_};
  bool active_ = false;
  bool filterDataStarted_ = false;
  // The first bytes of a kept connection's next request, received by the wait for it (libfcgi reads 8 KiB at a time).
  char firstBytes_[8192];
  int receiveTimeoutMs_ = 0;  // the SO_RCVTIMEO set on the connection (see ReceiveToServe)
};

}  // namespace fcgi
