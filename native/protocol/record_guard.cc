#include "protocol/record_guard.h"

#include <fastcgi.h>
#include <fcgiapp.h>

#include "protocol/records.h"

namespace fcgi {

void RecordGuard::Begin() {
  started_ = std::chrono::steady_clock::now();
  scanner_.Reset();
  refusal_ = 0;
  refusalMessage_.clear();
  shouldLinger_ = false;
}

ssize_t RecordGuard::Filter(const unsigned char* raw, size_t count, char* out, size_t* consumed) {
  bool wasIdle = scanner_.idle();
  ssize_t shown = scanner_.Scan(raw, count, out, consumed);
  if (wasIdle && !scanner_.idle()) started_ = std::chrono::steady_clock::now();  // the request's first byte
  if (shown < 0) RefuseForViolation();
  return shown;
}

size_t RecordGuard::Feed(const unsigned char* raw, size_t count, std::string& shown) {
  scanner_.HideAborts(true);
  if (refusal_ != 0 || scanner_.inputEnded()) return 0;
  size_t before = shown.size();
  // What is shown is at most the raw bytes and the header bytes held back from the last call.
  shown.resize(before + count + FCGI_HEADER_LEN);
  size_t consumed = 0;
  ssize_t added = Filter(raw, count, &shown[before], &consumed);
  shown.resize(before + (added > 0 ? static_cast<size_t>(added) : 0));
  return consumed;
}

void RecordGuard::RefuseForTime() {
  if (scanner_.paramsEnded()) {
    Refuse(ETIMEDOUT, "the request body did not arrive within requestTimeout (" +
                          std::to_string(limits_.requestTimeoutMs) + " ms)");
  } else {
    Refuse(ETIMEDOUT, "the request parameters did not arrive within headersTimeout (" +
                          std::to_string(limits_.headersTimeoutMs) + " ms)");
  }
}

std::chrono::steady_clock::time_point RecordGuard::Deadline() const {
  int limitMs = scanner_.paramsEnded() ? limits_.requestTimeoutMs : limits_.headersTimeoutMs;
  // While only management records (or another request's) have come, no request has begun, and none is late: a kept
  // connection may sit idle between requests as long as the web server likes.
  if (limitMs <= 0 || scanner_.idle() || scanner_.inputEnded() || refusal_ != 0) {
    return std::chrono::steady_clock::time_point::max();
  }
  return started_ + std::chrono::milliseconds(limitMs);
}

void RecordGuard::RefuseForViolation() {
  bool version = scanner_.violation() == protocol::Violation::kUnsupportedVersion;
  Refuse(version ? FCGX_UNSUPPORTED_VERSION : kParamsTooLarge, scanner_.violationMessage());
}

void RecordGuard::Refuse(int code, std::string message) {
  refusal_ = code;
  refusalMessage_ = std::move(message);
  // Answer only while the request is still in its head: once libfcgi has begun it, the app owns the response. A peer
  // that is not speaking FastCGI gets nothing.
  uint16_t id = scanner_.requestId();
  if (id == 0 || scanner_.paramsEnded() || code == FCGX_UNSUPPORTED_VERSION) return;
  const char* status = code == kParamsTooLarge ? "431 Request Header Fields Too Large" : "408 Request Timeout";
  std::string head = std::string("Status: ") + status + "\r\nContent-Type: text/plain\r\n\r\n" + status + "\n";
  std::string& replies = scanner_.replies();
  protocol::AppendRecord(replies, FCGI_STDOUT, id, head);
  protocol::AppendRecord(replies, FCGI_STDOUT, id, std::string());
  std::string endBody(8, '\0');  // appStatus 0, FCGI_REQUEST_COMPLETE
  protocol::AppendRecord(replies, FCGI_END_REQUEST, id, endBody);
  shouldLinger_ = true;
}

}  // namespace fcgi
