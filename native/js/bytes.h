// The bytes of a JS string (as UTF-8) or Uint8Array, as both servers' writes take them.
#pragma once
#include <napi.h>

#include <string>
#include <string_view>

namespace fcgi {

// Views a Uint8Array where it is; encodes a string into scratch (reused across calls). Anything else is a TypeError
// with the misuse message.
std::string_view BytesOf(Napi::Env env, const Napi::Value& value, std::string& scratch, const char* misuse);

}  // namespace fcgi
