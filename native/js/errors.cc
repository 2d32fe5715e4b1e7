// Turns libfcgi and errno result codes into JS errors of the one class that the TypeScript layer registers.
#include "js/errors.h"

#include <fcgiapp.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "js/instance.h"
#include "protocol/record_guard.h"

namespace fcgi {

const char* CodeName(int code) {
  switch (code) {
    case FCGX_UNSUPPORTED_VERSION:
      return "FCGX_UNSUPPORTED_VERSION";
    case FCGX_PROTOCOL_ERROR:
      return "FCGX_PROTOCOL_ERROR";
    case FCGX_PARAMS_ERROR:
      return "FCGX_PARAMS_ERROR";
    case FCGX_CALL_SEQ_ERROR:
      return "FCGX_CALL_SEQ_ERROR";
    case kParamsTooLarge:
      return "FCGI_PARAMS_TOO_LARGE";
    default:
      break;
  }
  if (code > 0) {
    const char* name = strerrorname_np(code);
    if (name != nullptr) return name;
  }
  return nullptr;
}

Napi::Error MakeError(Napi::Env env, const char* syscall, int code, const std::string& detail) {
  const char* known = CodeName(code);
  std::string name = known != nullptr ? known : "UNKNOWN_FCGX_" + std::to_string(code);
  InstanceData* data = env.GetInstanceData<InstanceData>();
  if (data != nullptr && !data->errorClass.IsEmpty()) {
    Napi::Object error = data->errorClass.New({Napi::String::New(env, syscall), Napi::String::New(env, name),
                                               Napi::Number::New(env, code),
                                               detail.empty() ? env.Undefined() : Napi::String::New(env, detail)});
    return Napi::Error(env, error);
  }
  Napi::Error error = Napi::Error::New(env, std::string(syscall) + " failed: " + name);
  error.Set("code", Napi::String::New(env, name));
  return error;
}

void ThrowTypeError(Napi::Env env, const char* message) { throw Napi::TypeError::New(env, message); }

Napi::Value ErrorFor(const Napi::CallbackInfo& info) {
  if (!info[0].IsString() || !info[1].IsNumber()) ThrowTypeError(info.Env(), "errorFor(syscall, code, detail?)");
  std::string syscall = info[0].As<Napi::String>().Utf8Value();
  std::string detail = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : std::string();
  return MakeError(info.Env(), syscall.c_str(), info[1].As<Napi::Number>().Int32Value(), detail).Value();
}

void SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) ThrowTypeError(info.Env(), "setErrorClass expects a constructor");
  InstanceData* data = info.Env().GetInstanceData<InstanceData>();
  data->errorClass = Napi::Persistent(info[0].As<Napi::Function>());
}

}  // namespace fcgi
