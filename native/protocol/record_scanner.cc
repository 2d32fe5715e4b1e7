#include "protocol/record_scanner.h"

#include <fastcgi.h>

#include <algorithm>
#include <cstring>

#include "protocol/records.h"

namespace fcgi::protocol {

void RecordScanner::Reset() {
  headerBytes_ = 0;
  contentLeft_ = 0;
  paddingLeft_ = 0;
  swallow_ = false;
  management_.clear();
  beginRequestId_ = 0;
  role_ = 0;
  beginBodyBytes_ = 0;
  paramsEnded_ = false;
  inputEnded_ = false;
  abortSeen_ = false;
  paramsBytes_ = 0;
  lengthCount_ = 0;
  pairBytesLeft_ = 0;
  violation_ = Violation::kNone;
  violationMessage_.clear();
  replies_.clear();
}

ssize_t RecordScanner::Scan(const unsigned char* raw, size_t count, char* out, size_t* consumed) {
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
      if (header_[0] != FCGI_VERSION_1) {
        *consumed = in;
        Violate(Violation::kUnsupportedVersion,
                "a record of FastCGI version " + std::to_string(header_[0]) +
                    " arrived (is something other than a FastCGI web server connecting?)");
        return -1;
      }
      if (!swallow_) {
        std::memcpy(out + shown, header_, kHeaderLength);
        out[shown + 6] = 0;  // the padding goes: see Scan in the header
        shown += kHeaderLength;
      }
    } else {
      size_t take = std::min(contentLeft_ + paddingLeft_, count - in);
      size_t content = std::min(take, contentLeft_);
      bool ofRequest = recordRequestId_ == beginRequestId_ && beginRequestId_ != 0;
      if (ofRequest && type_ == FCGI_PARAMS && !ScanParams(raw + in, content)) {
        *consumed = in;
        return -1;
      }
      if (type_ == FCGI_BEGIN_REQUEST && recordRequestId_ == beginRequestId_) {
        for (size_t i = 0; i < content && beginBodyBytes_ < 2; i++, beginBodyBytes_++) {
          role_ = static_cast<uint16_t>((role_ << 8) | raw[in + i]);
        }
      }
      if (swallow_) {
        if (recordRequestId_ == FCGI_NULL_REQUEST_ID)
          management_.append(reinterpret_cast<const char*>(raw + in), content);
      } else {
        std::memmove(out + shown, raw + in, content);
        shown += content;
      }
      contentLeft_ -= content;
      paddingLeft_ -= take - content;
      in += take;
    }
    if (contentLeft_ == 0 && paddingLeft_ == 0) {
      if (swallow_ && recordRequestId_ == FCGI_NULL_REQUEST_ID) AnswerManagementRecord();
      headerBytes_ = 0;
      swallow_ = false;
    }
  }
  *consumed = in;
  return static_cast<ssize_t>(shown);
}

bool RecordScanner::AbortFollows(const unsigned char* raw, size_t count) const {
  return inputEnded_ && count >= 4 && raw[1] == FCGI_ABORT_REQUEST && ((raw[2] << 8) | raw[3]) == beginRequestId_;
}

void RecordScanner::StartRecord() {
  type_ = header_[1];
  recordRequestId_ = static_cast<uint16_t>((header_[2] << 8) | header_[3]);
  contentLeft_ = static_cast<size_t>((header_[4] << 8) | header_[5]);
  paddingLeft_ = header_[6];
  if (type_ == FCGI_BEGIN_REQUEST && recordRequestId_ != 0 && beginRequestId_ == 0) beginRequestId_ = recordRequestId_;
  bool ofRequest = recordRequestId_ == beginRequestId_ && beginRequestId_ != 0;
  if (ofRequest && type_ == FCGI_PARAMS && contentLeft_ == 0) paramsEnded_ = true;
  uint8_t lastInput = role_ == FCGI_FILTER ? FCGI_DATA : FCGI_STDIN;
  if (ofRequest && paramsEnded_ && type_ == lastInput && contentLeft_ == 0) inputEnded_ = true;
  swallow_ = recordRequestId_ == FCGI_NULL_REQUEST_ID;
  if (swallow_) management_.clear();
  // Another request's records (a web server multiplexing) are not libfcgi's to see, but for BEGIN_REQUEST, which it
  // answers with FCGI_CANT_MPX_CONN. libfcgi 2.4.2 skips them itself, but an empty one leaves its skip flag set, and
  // then skips the next record of the request too: its body was lost.
  if (recordRequestId_ != FCGI_NULL_REQUEST_ID && !ofRequest && type_ != FCGI_BEGIN_REQUEST) swallow_ = true;
  if (hideAborts_ && ofRequest && type_ == FCGI_ABORT_REQUEST) {
    swallow_ = true;
    abortSeen_ = true;
  }
}

// Adds up the declared lengths before libfcgi reads a length, since it allocates name and value at once on reading
// both.
bool RecordScanner::ScanParams(const unsigned char* bytes, size_t count) {
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
    if (paramsBytes_ > maxParamsSize_) {
      Violate(Violation::kParamsTooLarge, "the request parameters exceed maxParamsSize (" +
                                              std::to_string(maxParamsSize_) + " bytes): a name-value pair of " +
                                              std::to_string(pair) + " bytes was declared");
      return false;
    }
    pairBytesLeft_ = pair;
  }
  return true;
}

// Answers GET_VALUES with each known name once, whatever the record repeats, stopping at the first malformed pair;
// any other management record with UNKNOWN_TYPE, as the spec asks.
void RecordScanner::AnswerManagementRecord() {
  if (type_ != FCGI_GET_VALUES) {
    std::string body(8, '\0');
    body[0] = static_cast<char>(type_);
    AppendRecord(replies_, FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, body);
    return;
  }
  static const char* const kNames[] = {FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS};
  bool answered[3] = {false, false, false};
  std::string pairs;
  const auto* bytes = reinterpret_cast<const unsigned char*>(management_.data());
  size_t size = management_.size();
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
      std::string value = k == 2 ? "0" : std::to_string(maxConns_);
      AppendLength(pairs, name.size());
      AppendLength(pairs, value.size());
      pairs += name;
      pairs += value;
    }
  }
  AppendRecord(replies_, FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID, pairs);
}

void RecordScanner::Violate(Violation violation, std::string message) {
  violation_ = violation;
  violationMessage_ = std::move(message);
}

}  // namespace fcgi::protocol
