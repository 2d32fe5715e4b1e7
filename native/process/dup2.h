// dup2(), for the app log of a shared-hosting account (lib/site/app-log.ts): pointing fd 1 and 2 at a file reaches what
// Node's streams write and what bypasses them alike (Node's own fatal-error reports, native code).
#pragma once
#include <napi.h>

namespace fcgi {

// JS: dup2(from, to): throws an FcgiError (syscall 'dup2') on failure.
void Dup2(const Napi::CallbackInfo& info);

}  // namespace fcgi
