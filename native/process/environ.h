// The CGI fallback's one native need: the process environment as bytes, which process.env decodes lossily as UTF-8.
#pragma once
#include <napi.h>

namespace fcgi {

// JS: environ() -> [name, value, name, value, ...] as latin1 strings (one char per byte).
Napi::Value Environ(const Napi::CallbackInfo& info);

}  // namespace fcgi
