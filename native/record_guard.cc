// Stands between a connection and libfcgi's record reader, so that libfcgi only ever reads records it survives.
// See record_guard.h for why each check exists.
#include "record_guard.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace fcgi {

namespace {

constexpr unsigned char kVersion1 = 1;
constexpr unsigned char kBeginRequest = 1;
constexpr unsigned char kAbortRequest = 2;
constexpr unsigned char kParams = 4;
constexpr unsigned char kStdin = 5;
constexpr unsigned char kData = 8;
constexpr uint16_t kFilterRole = 3;
constexpr unsigned char kStdout = 6;
constexpr unsigned char kEndRequest = 3;
constexpr unsigned char kGetValues = 9;
constexpr unsigned char kGetValuesResult = 10;
constexpr unsigned char kUnknownType = 11;
constexpr size_t kHeaderLength = 8;

thread_local RecordGuard* tCurrent = nullptr;

void AppendRecord(std::string& out, unsigned char type, uint16_t requestId, const std::string& content) {
  size_t padding = (kHeaderLength - content.size() % kHeaderLength) % kHeaderLength;
  unsigned char header[kHeaderLength] = {kVersion1,
                                         type,
                                         static_cast<unsigned char>(requestId >> 8),
                                         static_cast<unsigned char>(requestId),
                                         static_cast<unsigned char>(content.size() >> 8),
                                         static_cast<unsigned char>(content.size()),
                                         static_cast<unsigned char>(padding),
                                         0};
  out.append(reinterpret_cast<char*>(header), kHeaderLength);
  out.append(content);
  out.append(padding, '\0');
}

// Best effort: the guard writes only to end a request it refuses or to answer GET_VALUES; a peer that has gone away
// needs no answer.
void SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

// The web server is usually still sending the rest of the request, and closing with unread bytes would reset the
// connection and could destroy the reply on the way. So: end our side, and read and discard until the peer closes
// (it does once it has the reply), for a bounded time.
void LingerAfterReply(int fd) {
  constexpr int kLingerMs = 2000;
  shutdown(fd, SHUT_WR);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kLingerMs);
  char scratch[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd readable = {fd, POLLIN, 0};
    int ready = poll(&readable, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return;
    ssize_t count = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
    if (count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN)) return;
  }
}

// A name-value length: one byte below 128, else four bytes with the top bit set (FastCGI spec, 3.4).
size_t LengthSize(unsigned char first) { return (first & 0x80) != 0 ? 4 : 1; }

uint64_t DecodeLength(const unsigned char* bytes) {
  if ((bytes[0] & 0x80) == 0) return bytes[0];
  return (static_cast<uint64_t>(bytes[0] & 0x7f) << 24) | (static_cast<uint64_t>(bytes[1]) << 16) |
         (static_cast<uint64_t>(bytes[2]) << 8) | bytes[3];
}

void AppendLength(std::string& out, size_t length) {
  if (length < 0x80) {
    out.push_back(static_cast<char>(length));
    return;
  }
  out.push_back(static_cast<char>(0x80 | (length >> 24)));
  out.push_back(static_cast<char>(length >> 16));
  out.push_back(static_cast<char>(length >> 8));
  out.push_back(static_cast<char>(length));
}

}  // namespace

RecordGuard* RecordGuard::Current() { return tCurrent; }

RecordGuard::Scope::Scope(RecordGuard& guard) : previous_(tCurrent) { tCurrent = &guard; }
RecordGuard::Scope::~Scope() { tCurrent = previous_; }

void RecordGuard::Begin() {
  started_ = std::chrono::steady_clock::now();
  paramsEnded_ = false;
  headerBytes_ = 0;
  contentLeft_ = 0;
  paddingLeft_ = 0;
  swallow_ = false;
  getValues_.clear();
  beginRequestId_ = 0;
  role_ = 0;
  beginBodyBytes_ = 0;
  inputEnded_ = false;
  abortSeen_ = false;
  paramsBytes_ = 0;
  lengthCount_ = 0;
  pairBytesLeft_ = 0;
  refusal_ = 0;
  refusalMessage_.clear();
  replies_.clear();
  shouldLinger_ = false;
  preloaded_.clear();
  preloadedTaken_ = 0;
}

ssize_t RecordGuard::Read(int fd, char* buffer, size_t length) {
  // libfcgi always reads into its whole 8 KiB buffer; a partial header held back from the last read must fit in front.
  if (length < kHeaderLength) {
    errno = EINVAL;
    return -1;
  }
  for (;;) {
    if (refusal_ != 0) {
      errno = refusal_ > 0 ? refusal_ : EPROTO;
      return -1;
    }
    // Bytes of an incomplete header are held back until the header is whole: it may be a GET_VALUES record that
    // libfcgi must not see. New bytes land after room for them, and the filter moves everything to the front.
    size_t held = headerBytes_ < kHeaderLength ? headerBytes_ : 0;
    ssize_t count = ReadBeforeDeadline(fd, buffer + held, length - held);
    if (count <= 0) return count;
    size_t consumed;
    ssize_t shown =
        Filter(reinterpret_cast<unsigned char*>(buffer + held), static_cast<size_t>(count), buffer, &consumed);
    SendReplies(fd);
    if (shown < 0) errno = refusal_ > 0 ? refusal_ : EPROTO;
    if (shown != 0) return shown;
    // Everything read was held back or answered here: read on, as a read that returned 0 would mean the end.
  }
}

ssize_t RecordGuard::ReadBeforeDeadline(int fd, char* buffer, size_t length) {
  if (preloadedTaken_ < preloaded_.size()) {
    size_t count = std::min(length, preloaded_.size() - preloadedTaken_);
    std::memcpy(buffer, preloaded_.data() + preloadedTaken_, count);
    preloadedTaken_ += count;
    return static_cast<ssize_t>(count);
  }
  for (;;) {
    ssize_t count = recv(fd, buffer, length, MSG_DONTWAIT);
    if (count >= 0) return count;
    if (errno == EINTR) continue;
    if (errno == ENOTSOCK) return read(fd, buffer, length);
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;

    int limitMs = paramsEnded_ ? limits_.requestTimeoutMs : limits_.headersTimeoutMs;
    int waitMs = -1;
    if (limitMs > 0) {
      auto elapsed = std::chrono::steady_clock::now() - started_;
      auto left = limitMs - std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
      waitMs = static_cast<int>(std::max<int64_t>(left, 0));
    }
    pollfd readable = {fd, POLLIN, 0};
    int ready = waitMs == 0 ? 0 : poll(&readable, 1, waitMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return -1;
    if (ready > 0) continue;
    RefuseForTime();
    SendReplies(fd);
    errno = ETIMEDOUT;
    return -1;
  }
}

void RecordGuard::RefuseForTime() {
  if (paramsEnded_) {
    Refuse(ETIMEDOUT, "the request body did not arrive within requestTimeout (" +
                          std::to_string(limits_.requestTimeoutMs) + " ms)");
  } else {
    Refuse(ETIMEDOUT, "the request parameters did not arrive within headersTimeout (" +
                          std::to_string(limits_.headersTimeoutMs) + " ms)");
  }
}

std::chrono::steady_clock::time_point RecordGuard::Deadline() const {
  int limitMs = paramsEnded_ ? limits_.requestTimeoutMs : limits_.headersTimeoutMs;
  if (limitMs <= 0 || inputEnded_ || refusal_ != 0) return std::chrono::steady_clock::time_point::max();
  return started_ + std::chrono::milliseconds(limitMs);
}

void RecordGuard::SendReplies(int fd) {
  if (replies_.empty()) return;
  SendAll(fd, replies_);
  replies_.clear();
  if (shouldLinger_) LingerAfterReply(fd);
}

size_t RecordGuard::Feed(const unsigned char* raw, size_t count, std::string& shown) {
  stopAtInputEnd_ = true;
  if (refusal_ != 0 || inputEnded_) return 0;
  size_t before = shown.size();
  // The validated part is at most the raw bytes and the header bytes held back from the last call.
  shown.resize(before + count + kHeaderLength);
  size_t consumed = 0;
  ssize_t added = Filter(raw, count, &shown[before], &consumed);
  shown.resize(before + (added > 0 ? static_cast<size_t>(added) : 0));
  return consumed;
}

ssize_t RecordGuard::Filter(const unsigned char* raw, size_t count, char* out, size_t* consumed) {
  size_t in = 0;
  size_t shown = 0;
  *consumed = 0;
  while (in < count && !(stopAtInputEnd_ && inputEnded_ && headerBytes_ == 0)) {
    if (headerBytes_ < kHeaderLength) {
      size_t take = std::min(kHeaderLength - headerBytes_, count - in);
      std::memcpy(header_ + headerBytes_, raw + in, take);
      headerBytes_ += take;
      in += take;
      if (headerBytes_ < kHeaderLength) break;
      StartRecord();
      if (header_[0] != kVersion1) {
        *consumed = in;
        Refuse(-2 /* FCGX_UNSUPPORTED_VERSION */,
               "a record of FastCGI version " + std::to_string(header_[0]) +
                   " arrived (is something other than a FastCGI web server connecting?)");
        return -1;
      }
      if (!swallow_) {
        std::memcpy(out + shown, header_, kHeaderLength);
        shown += kHeaderLength;
      }
    } else {
      size_t take = std::min(contentLeft_ + paddingLeft_, count - in);
      size_t content = std::min(take, contentLeft_);
      bool requestParams = type_ == kParams && requestId_ == beginRequestId_ && beginRequestId_ != 0;
      if (requestParams && !ScanParams(raw + in, content)) {
        *consumed = in;
        return -1;
      }
      if (type_ == kBeginRequest && requestId_ == beginRequestId_) {
        for (size_t i = 0; i < content && beginBodyBytes_ < 2; i++, beginBodyBytes_++) {
          role_ = static_cast<uint16_t>((role_ << 8) | raw[in + i]);
        }
      }
      if (swallow_) {
        getValues_.append(reinterpret_cast<const char*>(raw + in), content);
      } else {
        std::memmove(out + shown, raw + in, take);
        shown += take;
      }
      contentLeft_ -= content;
      paddingLeft_ -= take - content;
      in += take;
    }
    if (contentLeft_ == 0 && paddingLeft_ == 0) {
      if (swallow_ && requestId_ == 0) AnswerManagementRecord();
      headerBytes_ = 0;
      swallow_ = false;
    }
  }
  *consumed = in;
  return static_cast<ssize_t>(shown);
}

void RecordGuard::StartRecord() {
  type_ = header_[1];
  requestId_ = static_cast<uint16_t>((header_[2] << 8) | header_[3]);
  contentLeft_ = static_cast<size_t>((header_[4] << 8) | header_[5]);
  paddingLeft_ = header_[6];
  if (type_ == kBeginRequest && requestId_ != 0 && beginRequestId_ == 0) beginRequestId_ = requestId_;
  bool ofRequest = requestId_ == beginRequestId_ && beginRequestId_ != 0;
  if (ofRequest && type_ == kParams && contentLeft_ == 0) paramsEnded_ = true;
  uint8_t lastInput = role_ == kFilterRole ? kData : kStdin;
  if (ofRequest && paramsEnded_ && type_ == lastInput && contentLeft_ == 0) inputEnded_ = true;
  // Management records (request id 0) are answered here: GET_VALUES because libfcgi's answer can smash its stack,
  // the others because libfcgi leaks 48 bytes for each one it answers with UNKNOWN_TYPE.
  swallow_ = requestId_ == 0;
  if (swallow_) getValues_.clear();
  // libfcgi takes FCGI_ABORT_REQUEST for a protocol error in the middle of the body; the event loop reports it as the
  // abort it is instead.
  if (stopAtInputEnd_ && ofRequest && type_ == kAbortRequest) {
    swallow_ = true;
    abortSeen_ = true;
  }
}

// Follows the name-value pairs across PARAMS records and refuses the request as soon as the lengths declared so far
// exceed the limit: before libfcgi reads a length, since it allocates name and value at once on reading both.
bool RecordGuard::ScanParams(const unsigned char* bytes, size_t count) {
  for (size_t i = 0; i < count;) {
    if (pairBytesLeft_ > 0) {
      size_t skip = static_cast<size_t>(std::min<uint64_t>(pairBytesLeft_, count - i));
      pairBytesLeft_ -= skip;
      i += skip;
      continue;
    }
    lengthBytes_[lengthCount_++] = bytes[i++];
    size_t nameSize = LengthSize(lengthBytes_[0]);
    if (lengthCount_ < nameSize + 1) continue;
    size_t valueSize = LengthSize(lengthBytes_[nameSize]);
    if (lengthCount_ < nameSize + valueSize) continue;
    uint64_t pair = DecodeLength(lengthBytes_) + DecodeLength(lengthBytes_ + nameSize);
    lengthCount_ = 0;
    paramsBytes_ += nameSize + valueSize + pair;
    if (paramsBytes_ > limits_.maxParamsSize) {
      Refuse(kParamsTooLarge, "the request parameters exceed maxParamsSize (" + std::to_string(limits_.maxParamsSize) +
                                  " bytes): a name-value pair of " + std::to_string(pair) + " bytes was declared");
      return false;
    }
    pairBytesLeft_ = pair;
  }
  return true;
}

// Answers GET_VALUES with each known name once, whatever the record repeats, stopping at the first malformed pair;
// any other management record with UNKNOWN_TYPE, as the spec asks.
void RecordGuard::AnswerManagementRecord() {
  if (type_ != kGetValues) {
    std::string body(8, '\0');
    body[0] = static_cast<char>(type_);
    AppendRecord(replies_, kUnknownType, 0, body);
    return;
  }
  static const char* const kNames[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"};
  bool answered[3] = {false, false, false};
  std::string pairs;
  const auto* bytes = reinterpret_cast<const unsigned char*>(getValues_.data());
  size_t size = getValues_.size();
  for (size_t i = 0; i < size;) {
    size_t nameSize = LengthSize(bytes[i]);
    if (i + nameSize >= size) break;
    size_t valueSize = LengthSize(bytes[i + nameSize]);
    if (i + nameSize + valueSize > size) break;
    uint64_t nameLength = DecodeLength(bytes + i);
    uint64_t valueLength = DecodeLength(bytes + i + nameSize);
    i += nameSize + valueSize;
    if (nameLength + valueLength > size - i) break;
    std::string name(reinterpret_cast<const char*>(bytes + i), static_cast<size_t>(nameLength));
    i += static_cast<size_t>(nameLength + valueLength);
    for (int k = 0; k < 3; k++) {
      if (answered[k] || name != kNames[k]) continue;
      answered[k] = true;
      std::string value = k == 2 ? "0" : std::to_string(limits_.maxConns);
      AppendLength(pairs, name.size());
      AppendLength(pairs, value.size());
      pairs += name;
      pairs += value;
    }
  }
  AppendRecord(replies_, kGetValuesResult, 0, pairs);
}

void RecordGuard::Refuse(int code, std::string message) {
  refusal_ = code;
  refusalMessage_ = std::move(message);
  // Answer only while the request is still in its head: once libfcgi has begun it, the app owns the response.
  if (beginRequestId_ == 0 || paramsEnded_ || code == -2) return;
  const char* status = code == kParamsTooLarge ? "431 Request Header Fields Too Large" : "408 Request Timeout";
  std::string head = std::string("Status: ") + status + "\r\nContent-Type: text/plain\r\n\r\n" + status + "\n";
  AppendRecord(replies_, kStdout, beginRequestId_, head);
  AppendRecord(replies_, kStdout, beginRequestId_, std::string());
  AppendRecord(replies_, kEndRequest, beginRequestId_, std::string(8, '\0'));  // appStatus 0, FCGI_REQUEST_COMPLETE
  shouldLinger_ = true;
}

}  // namespace fcgi
