#include "protocol/records.h"

#include <fastcgi.h>

namespace fcgi::protocol {

void AppendRecord(std::string& out, unsigned char type, uint16_t requestId, const std::string& content) {
  size_t padding = (FCGI_HEADER_LEN - content.size() % FCGI_HEADER_LEN) % FCGI_HEADER_LEN;
  unsigned char header[FCGI_HEADER_LEN] = {FCGI_VERSION_1,
                                           type,
                                           static_cast<unsigned char>(requestId >> 8),
                                           static_cast<unsigned char>(requestId),
                                           static_cast<unsigned char>(content.size() >> 8),
                                           static_cast<unsigned char>(content.size()),
                                           static_cast<unsigned char>(padding),
                                           0};
  out.append(reinterpret_cast<char*>(header), FCGI_HEADER_LEN);
  out.append(content);
  out.append(padding, '\0');
}

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

}  // namespace fcgi::protocol
