// The CGI fallback's one native need: the process environment as bytes, which process.env decodes lossily as UTF-8.
#include "process/environ.h"

#include <unistd.h>

#include <cstring>

extern char** environ;

namespace fcgi {

Napi::Value Environ(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array pairs = Napi::Array::New(env);
  uint32_t index = 0;
  for (char** entry = environ; *entry != nullptr; entry++) {
    const char* equals = strchr(*entry, '=');
    if (equals == nullptr) continue;
    napi_value name;
    napi_value value;
    napi_create_string_latin1(env, *entry, equals - *entry, &name);
    napi_create_string_latin1(env, equals + 1, NAPI_AUTO_LENGTH, &value);
    pairs.Set(index++, name);
    pairs.Set(index++, value);
  }
  return pairs;
}

}  // namespace fcgi
