// Stands between a connection and libfcgi's record reader, so that libfcgi only ever reads records it survives.
//
// Debian's libfcgi 2.4.2 aborts the whole process on two inputs: an FCGI_GET_VALUES record naming four or more known
// variables overflows a 64-byte stack buffer in its reply, and a PARAMS name or value length near 2^31 fails its
// allocation assert. The guard follows the record framing of every byte libfcgi reads, answers management records
// (GET_VALUES and unknown types) itself and removes them from what libfcgi sees, and checks each name-value length
// against the parameter limit before libfcgi reads it, refusing an oversized request with a 431 response of its own. It
// also bounds how long a request's parameters and body may take, so a peer that stalls mid-request is let go.
//
// Two ways in: the synchronous loop's libfcgi reads a blocking socket through its OS_Read(), which
// native/libfcgi_io.cc routes to Read() (RecordGuard::Current() says which guard serves the calling thread; without
// one, reads pass straight through); the event loop's connections (native/connection.h) Feed() it what arrives.
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
  // The read libfcgi asked for, on a blocking connection (the synchronous loop): fills buffer with up to length bytes
  // of validated records. Returns the count, 0 at the end of the stream, or -1 with errno set (ETIMEDOUT, or EPROTO
  // once the guard has refused the request). Replies the guard owes are sent on fd before it returns.
  ssize_t Read(int fd, char* buffer, size_t length);
  // Bytes of the connection received before Begin() (the wait for a kept connection's next request receives them):
  // Read() takes them first. Call after Begin().
  void Preload(const char* bytes, size_t count) {
    preloaded_.assign(bytes, count);
    preloadedTaken_ = 0;
  }

  // The event loop's way in (native/connection.cc): takes bytes as they arrive, appends the validated part to shown,
  // and returns how many it consumed. It stops after the record that ends the request's input (the empty FCGI_STDIN
  // record, FCGI_DATA's for the filter role), so bytes of a next request wait until this one is finished. Replies
  // the guard owes (GET_VALUES answers, a refusal's response) are then in replies(); after a refusal it consumes
  // nothing more.
  size_t Feed(const unsigned char* raw, size_t count, std::string& shown);
  // Refuses the request for taking too long (the event loop's timer says when).
  void RefuseForTime();
  // The deadline of the phase the request is in, from its first byte (headersTimeout, then requestTimeout);
  // time_point::max() when none applies.
  std::chrono::steady_clock::time_point Deadline() const;

  std::string& replies() { return replies_; }
  // Whether the refusal's reply asks for the connection to linger: end our side, then read until the peer closes.
  bool shouldLinger() const { return shouldLinger_; }
  bool paramsEnded() const { return paramsEnded_; }
  // Between records, with no request begun: only management records (answered) have come.
  bool idle() const { return beginRequestId_ == 0 && headerBytes_ == 0 && refusal_ == 0; }
  bool inputEnded() const { return inputEnded_; }
  // Whether the web server sent FCGI_ABORT_REQUEST for the request (seen by Feed, which keeps it from libfcgi).
  bool abortSeen() const { return abortSeen_; }

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
  // *consumed says how much of raw it took (all of it, unless it stopped at the end of the input or refused).
  ssize_t Filter(const unsigned char* raw, size_t count, char* out, size_t* consumed);
  void StartRecord();
  bool ScanParams(const unsigned char* bytes, size_t count);
  void AnswerManagementRecord();
  void Refuse(int code, std::string message);
  // The synchronous path: sends the replies owed, and lingers after a refusal's.
  void SendReplies(int fd);

  GuardLimits limits_;
  std::string preloaded_;
  size_t preloadedTaken_ = 0;
  std::chrono::steady_clock::time_point started_;
  bool paramsEnded_ = false;

  // The record being read: its header, and how much of its content and padding is still to come.
  unsigned char header_[8] = {};
  size_t headerBytes_ = 0;
  uint8_t type_ = 0;
  uint16_t requestId_ = 0;
  size_t contentLeft_ = 0;
  size_t paddingLeft_ = 0;
  bool swallow_ = false;   // a management record (answered here) or an abort (reported): never shown to libfcgi
  std::string getValues_;  // its content so far

  // The request's PARAMS stream, scanned across records: the length bytes of the pair being read, then its name and
  // value bytes to skip.
  uint16_t beginRequestId_ = 0;
  uint16_t role_ = 0;            // from the BEGIN_REQUEST body: which stream ends the input
  size_t beginBodyBytes_ = 0;    // how much of that body has been seen
  bool stopAtInputEnd_ = false;  // Feed's mode: hold back what follows the input, keep FCGI_ABORT_REQUEST
  bool inputEnded_ = false;
  bool abortSeen_ = false;
  size_t paramsBytes_ = 0;
  unsigned char lengthBytes_[8] = {};
  size_t lengthCount_ = 0;
  uint64_t pairBytesLeft_ = 0;

  int refusal_ = 0;
  std::string refusalMessage_;
  std::string replies_;
  bool shouldLinger_ = false;
};

}  // namespace fcgi
