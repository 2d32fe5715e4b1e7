// The bytes of a JS string (as UTF-8) or Uint8Array. See bytes.h.
#include "js/bytes.h"

#include "js/errors.h"

namespace fcgi {

std::string_view BytesOf(Napi::Env env, const Napi::Value& value, std::string& scratch, const char* misuse) {
  if (value.IsTypedArray()) {
    Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
    return std::string_view(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength());
  }
  if (!value.IsString()) ThrowTypeError(env, misuse);
  size_t length = 0;
  napi_get_value_string_utf8(env, value, nullptr, 0, &length);
  scratch.resize(length + 1);
  napi_get_value_string_utf8(env, value, scratch.data(), scratch.size(), &length);
  return std::string_view(scratch.data(), length);
}

}  // namespace fcgi
