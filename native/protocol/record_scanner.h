// A pure scanner of the FastCGI records a web server sends: bytes in, verdicts out. No I/O, no clock, no HTTP.
//
// It follows the record framing across reads of any size and decides what libfcgi may see, because Debian's libfcgi
// 2.4.2 aborts the whole process on two inputs: an FCGI_GET_VALUES record naming four or more known variables
// overflows a 64-byte stack buffer in its reply, and a PARAMS name or value length near 2^31 fails its allocation
// assert. So the scanner keeps every management record (request id 0) from libfcgi and writes the answer itself
// (GET_VALUES_RESULT, or UNKNOWN_TYPE, which libfcgi would answer at the cost of a 48-byte leak each), and adds up
// the name-value lengths of the request's PARAMS as they are declared, stopping at the first one over the limit,
// before libfcgi has read it. It also says where the request stands (its parameters ended, its input ended) and
// notices FCGI_ABORT_REQUEST, which libfcgi would take for a protocol error in the middle of the body.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace fcgi::protocol {

enum class Violation {
  kNone,
  kUnsupportedVersion,  // a record header whose version is not 1: not a FastCGI peer, or lost framing
  kParamsTooLarge,      // the PARAMS declared more bytes than maxParamsSize
};

class RecordScanner {
 public:
  // maxConns is what GET_VALUES is answered for FCGI_MAX_CONNS and FCGI_MAX_REQS.
  RecordScanner(size_t maxParamsSize, int maxConns) : maxParamsSize_(maxParamsSize), maxConns_(maxConns) {}

  // Starts over at a record boundary, for the request about to begin.
  void Reset();
  // Whether to stop after the record that ends the request's input (the empty FCGI_STDIN, FCGI_DATA's for the filter
  // role), leaving what follows unread: bytes of a next request wait until this one is finished (both loops).
  void StopAtInputEnd(bool stop) { stopAtInputEnd_ = stop; }
  // Whether to keep FCGI_ABORT_REQUEST from what is shown and report it by abortSeen() (the event loop's way; the
  // synchronous loop lets libfcgi turn it into an error of the body's reads).
  void HideAborts(bool hide) { hideAborts_ = hide; }

  // Moves the part of raw that libfcgi may see to out, which has room for count + FCGI_HEADER_LEN bytes (a header
  // held back from the last call comes out in front). Returns how many bytes it wrote, or -1 at a violation;
  // *consumed says how much of raw it took. Records are shown without their padding: libfcgi 2.4.2 forgets the
  // padding of the record that ends a stream (BEGIN_REQUEST's, the empty PARAMS and STDIN records) when it turns to
  // the next stream, and would read those bytes as the next header.
  ssize_t Scan(const unsigned char* raw, size_t count, char* out, size_t* consumed);

  // The records owed to the peer: answers to management records, in the order they came. The caller sends and clears
  // them, and may append its own.
  std::string& replies() { return replies_; }

  Violation violation() const { return violation_; }
  // A sentence that says what the violation was, for the log and the JS Error.
  const std::string& violationMessage() const { return violationMessage_; }

  // Bytes of an incomplete header, held back until it is whole (it may start a management record).
  size_t heldHeaderBytes() const { return headerBytes_ < kHeaderLength ? headerBytes_ : 0; }
  uint16_t requestId() const { return beginRequestId_; }
  bool paramsEnded() const { return paramsEnded_; }
  bool inputEnded() const { return inputEnded_; }
  // Whether FCGI_ABORT_REQUEST for the request was scanned (and kept from what is shown).
  bool abortSeen() const { return abortSeen_; }
  // Between records with no request begun: only management records have come.
  bool idle() const { return beginRequestId_ == 0 && headerBytes_ == 0 && violation_ == Violation::kNone; }
  // Whether bytes left unread after the input ended begin with FCGI_ABORT_REQUEST for this request.
  bool AbortFollows(const unsigned char* raw, size_t count) const;

 private:
  static constexpr size_t kHeaderLength = 8;

  void StartRecord();
  bool ScanParams(const unsigned char* bytes, size_t count);
  void AnswerManagementRecord();
  void Violate(Violation violation, std::string message);

  size_t maxParamsSize_;
  int maxConns_;
  bool stopAtInputEnd_ = false;
  bool hideAborts_ = false;

  // The record being read: its header, and how much of its content and padding is still to come.
  unsigned char header_[kHeaderLength] = {};
  size_t headerBytes_ = 0;
  uint8_t type_ = 0;
  uint16_t recordRequestId_ = 0;
  size_t contentLeft_ = 0;
  size_t paddingLeft_ = 0;
  bool swallow_ = false;    // a management record (answered here), an abort (reported), another request's: not shown
  std::string management_;  // a management record's content so far

  // The request: its id, its role (which stream ends the input), and its PARAMS scanned across records: the length
  // bytes of the pair being read, then its name and value bytes to skip.
  uint16_t beginRequestId_ = 0;
  uint16_t role_ = 0;
  size_t beginBodyBytes_ = 0;
  bool paramsEnded_ = false;
  bool inputEnded_ = false;
  bool abortSeen_ = false;
  size_t paramsBytes_ = 0;
  unsigned char lengthBytes_[8] = {};
  size_t lengthCount_ = 0;
  uint64_t pairBytesLeft_ = 0;

  Violation violation_ = Violation::kNone;
  std::string violationMessage_;
  std::string replies_;
};

}  // namespace fcgi::protocol
