// Stands between a connection and libfcgi's record reader, so that libfcgi only ever reads records it survives.
//
// Debian's libfcgi 2.4.2 aborts the whole process on two inputs: an FCGI_GET_VALUES record naming four or more known
// variables overflows a 64-byte stack buffer in its reply, and a PARAMS name or value length near 2^31 fails its
// allocation assert. The guard follows the record framing of every byte libfcgi reads, answers management records
// (GET_VALUES and unknown types) itself and removes them from what libfcgi sees, and checks each name-value length
// against the parameter limit before libfcgi reads it, refusing an oversized request with a 431 response of its own. It
// also bounds how long a read may wait, so a peer that stalls mid-request cannot pin a thread forever.
//
// libfcgi reads through its OS_Read(), which native/os_read.cc routes here: interposed on a shared libfcgi, and with
// the linker's --wrap on the static one of the prebuilt binary. RecordGuard::Current() says which guard serves the
// calling thread; without one, reads pass straight through.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace fcgi {

// The result code of a request refused for its parameters' size (see errors.h for the code convention).
constexpr int kParamsTooLarge = -1001;

struct GuardLimits {
  size_t maxParamsSize = 2 * 1024 * 1024;  // bytes of PARAMS content (names, values and their lengths)
  int headersTimeoutMs = 60000;            // from the request's first byte to the end of its PARAMS; 0: none
  int requestTimeoutMs = 300000;           // from the request's first byte to the end of its body; 0: none
  int maxConns = 1;                        // the FCGI_MAX_CONNS and FCGI_MAX_REQS answered to GET_VALUES
};

class RecordGuard {
 public:
  explicit RecordGuard(const GuardLimits& limits) : limits_(limits) {}

  // Starts guarding a connection at a record boundary, for the request that is about to begin on it; also forgets
  // an earlier refusal.
  void Begin();
  // The read libfcgi asked for: fills buffer with up to length bytes of validated records. Returns the count, 0 at
  // the end of the stream, or -1 with errno set (ETIMEDOUT, or EPROTO once the guard has refused the request).
  ssize_t Read(int fd, char* buffer, size_t length);

  // Why the guard ended the request, once it has: kParamsTooLarge or ETIMEDOUT (0 if it has not), and a sentence.
  int refusal() const { return refusal_; }
  const std::string& refusalMessage() const { return refusalMessage_; }

  // The guard serving reads on this thread, if any; set with a Scope around calls into libfcgi.
  static RecordGuard* Current();
  class Scope {
   public:
    explicit Scope(RecordGuard& guard);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    RecordGuard* previous_;
  };

 private:
  ssize_t ReadBeforeDeadline(int fd, char* buffer, size_t length);
  // Moves the validated part of raw bytes to out; returns the count moved, or -1 after refusing the request.
  ssize_t Filter(int fd, const unsigned char* raw, size_t count, char* out);
  void StartRecord();
  bool ScanParams(int fd, const unsigned char* bytes, size_t count);
  void AnswerManagementRecord(int fd);
  void Refuse(int fd, int code, std::string message);

  GuardLimits limits_;
  std::chrono::steady_clock::time_point started_;
  bool paramsEnded_ = false;

  // The record being read: its header, and how much of its content and padding is still to come.
  unsigned char header_[8] = {};
  size_t headerBytes_ = 0;
  uint8_t type_ = 0;
  uint16_t requestId_ = 0;
  size_t contentLeft_ = 0;
  size_t paddingLeft_ = 0;
  bool swallow_ = false;   // a management record: answered here, never shown to libfcgi
  std::string getValues_;  // its content so far

  // The request's PARAMS stream, scanned across records: the length bytes of the pair being read, then its name and
  // value bytes to skip.
  uint16_t beginRequestId_ = 0;
  size_t paramsBytes_ = 0;
  unsigned char lengthBytes_[8] = {};
  size_t lengthCount_ = 0;
  uint64_t pairBytesLeft_ = 0;

  int refusal_ = 0;
  std::string refusalMessage_;
};

}  // namespace fcgi
