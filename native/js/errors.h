// Turns libfcgi and errno result codes into JS errors of the one class that the TypeScript layer registers.
#pragma once
#include <napi.h>

#include <string>

namespace fcgi {

// Result codes inside the addon: 0 is success, a positive number is an errno value and a negative number is one of
// libfcgi's FCGX_* codes (the convention of FCGX_GetError).
const char* CodeName(int code);

// Builds `new FcgiError(syscall, code, errno, detail)` with the registered class, or a plain Error before
// registration. The detail, when given, replaces the code's generic description in the message.
Napi::Error MakeError(Napi::Env env, const char* syscall, int code, const std::string& detail = std::string());

// Throws a TypeError that states how an argument was misused.
[[noreturn]] void ThrowTypeError(Napi::Env env, const char* message);

// JS: errorFor(syscall, code) -> FcgiError, for results that reach JS as codes (the event-loop server's).
Napi::Value ErrorFor(const Napi::CallbackInfo& info);

// JS: setErrorClass(FcgiError). Called once by lib/addon/native.ts.
void SetErrorClass(const Napi::CallbackInfo& info);

}  // namespace fcgi
