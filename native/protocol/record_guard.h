// Stands between a connection and libfcgi's record reader, so that libfcgi only ever reads records it survives, and
// bounds how long a request's head and body may take.
//
// The protocol's part is protocol/record_scanner.h's (framing, the parameter limit, management records, aborts); the
// guard adds the clock (headersTimeout, requestTimeout) and turns what the scanner found into the refusal of the
// request: its result code, its sentence, and while the request is still in its head, a 431 or 408 response for the
// web server to pass on. It does no I/O: the event loop's connections (event_loop/connection.h) Feed() it what
// arrives; the synchronous loop reads through it with accept_loop/blocking_reader.h.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>

#include "protocol/record_scanner.h"

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
  // Both loops stop after the record that ends a request's input: what follows is the next request's.
  explicit RecordGuard(const GuardLimits& limits) : limits_(limits), scanner_(limits.maxParamsSize, limits.maxConns) {
    scanner_.StopAtInputEnd(true);
  }

  // Starts guarding a connection at a record boundary, for the request that is about to begin on it; its clock starts
  // now, and an earlier refusal is forgotten.
  void Begin();

  // The synchronous loop's way in: moves what libfcgi may see of raw to out (room for count + 8 bytes); returns the
  // count, or -1 once the request is refused. *consumed says how much of raw it took: it stops after the record that
  // ends the request's input, and what follows is the next request's.
  ssize_t Filter(const unsigned char* raw, size_t count, char* out, size_t* consumed);
  // The event loop's way in: appends what libfcgi may see to shown and returns how many bytes it consumed. It stops
  // after the record that ends the request's input, so bytes of a next request wait until this one is finished;
  // after a refusal it consumes nothing more.
  size_t Feed(const unsigned char* raw, size_t count, std::string& shown);

  // Refuses the request for taking too long (the caller's clock or timer says when).
  void RefuseForTime();
  // The deadline of the phase the request is in, from its first byte (headersTimeout, then requestTimeout);
  // time_point::max() when none applies (no request has begun, its input has all come, it was refused).
  std::chrono::steady_clock::time_point Deadline() const;

  // The records owed to the peer (GET_VALUES answers, a refusal's response): the caller sends them and clears this.
  std::string& replies() { return scanner_.replies(); }
  // Whether the refusal's reply asks for the connection to linger: end our side, then read until the peer closes.
  bool shouldLinger() const { return shouldLinger_; }

  const protocol::RecordScanner& scanner() const { return scanner_; }
  bool paramsEnded() const { return scanner_.paramsEnded(); }
  bool inputEnded() const { return scanner_.inputEnded(); }
  bool idle() const { return scanner_.idle() && refusal_ == 0; }

  // Why the guard ended the request, once it has: kParamsTooLarge, FCGX_UNSUPPORTED_VERSION or ETIMEDOUT (0 if it
  // has not), and a sentence.
  int refusal() const { return refusal_; }
  const std::string& refusalMessage() const { return refusalMessage_; }

 private:
  void RefuseForViolation();
  void Refuse(int code, std::string message);

  GuardLimits limits_;
  protocol::RecordScanner scanner_;
  std::chrono::steady_clock::time_point started_;
  int refusal_ = 0;
  std::string refusalMessage_;
  bool shouldLinger_ = false;
};

}  // namespace fcgi
