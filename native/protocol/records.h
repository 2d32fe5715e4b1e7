// Writing FastCGI records and reading the lengths of name-value pairs (FastCGI specification, 3.3 and 3.4).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace fcgi::protocol {

// Appends one record with its header and the padding to a multiple of eight bytes.
void AppendRecord(std::string& out, unsigned char type, uint16_t requestId, const std::string& content);

// A name-value length: one byte below 128, else four bytes with the top bit set.
inline size_t LengthSize(unsigned char first) { return (first & 0x80) != 0 ? 4 : 1; }
uint64_t DecodeLength(const unsigned char* bytes);
void AppendLength(std::string& out, size_t length);

}  // namespace fcgi::protocol
