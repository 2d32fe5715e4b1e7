// The synchronous loop's reads: libfcgi reads a blocking socket through its OS_Read(), which overrides/libfcgi_io.cc
// routes to the BlockingReader current on the calling thread (set with a Scope around calls into libfcgi). The reader
// takes what arrives through the record guard, waits no longer than the guard's deadline, and sends what the guard owes
// the peer (GET_VALUES answers, a refusal's response, lingering after it).
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <string>

#include "protocol/record_guard.h"

namespace fcgi {

class BlockingReader {
 public:
  explicit BlockingReader(RecordGuard& guard) : guard_(guard) {}

  // Starts a request on a connection: the guard begins, and the bytes already here are read first: those of this
  // request that came with the last one's (carried), then those the wait for it received (on a kept connection).
  void Begin(const char* received, size_t count);
  // Whether bytes of the next request came with the last one's: it begins without waiting for the socket.
  bool carrying() const { return !carried_.empty(); }
  // The connection is gone, and with it what was carried.
  void Forget() { carried_.clear(); }
  // Whether what was carried begins with FCGI_ABORT_REQUEST for the request.
  bool AbortFollows() const {
    return guard_.scanner().AbortFollows(reinterpret_cast<const unsigned char*>(carried_.data()), carried_.size());
  }
  // The read libfcgi asked for: fills buffer with up to length bytes of validated records. Returns the count, 0 at
  // the end of the stream, or -1 with errno set (ETIMEDOUT, or EPROTO once the guard has refused the request).
  ssize_t Read(int fd, char* buffer, size_t length);

  // The reader serving libfcgi's reads on this thread, if any.
  static BlockingReader* Current();
  class Scope {
   public:
    explicit Scope(BlockingReader& reader);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    BlockingReader* previous_;
  };

 private:
  ssize_t ReadBeforeDeadline(int fd, char* buffer, size_t length);
  void Carry(const char* tail, size_t count);
  void SendReplies(int fd);

  RecordGuard& guard_;
  std::string preloaded_;
  size_t preloadedTaken_ = 0;
  // Bytes read past the record that ended the request's input: a web server that sends the next request before this
  // one's END_REQUEST (pipelining on a kept connection). libfcgi would have dropped them with its stream's buffer.
  std::string carried_;
};

}  // namespace fcgi
