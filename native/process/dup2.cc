// dup2 for lib/site/app-log.ts (see dup2.h).
#include "process/dup2.h"

#include <unistd.h>

#include <cerrno>

#include "js/errors.h"

namespace fcgi {

void Dup2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "dup2(from, to)");
  if (dup2(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value()) < 0) {
    throw MakeError(env, "dup2", errno);
  }
}

}  // namespace fcgi
