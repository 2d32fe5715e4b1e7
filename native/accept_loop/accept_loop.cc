// The JS class over RequestSlot: the synchronous calls of the accept loop, translated one for one.
#include "accept_loop/accept_loop.h"

#include <cerrno>
#include <string>

#include "js/bytes.h"
#include "js/errors.h"
#include "js/options.h"

namespace fcgi {

Napi::Function AcceptLoop::Define(Napi::Env env) {
  return DefineClass(env, "AcceptLoop",
                     {
                         InstanceMethod("accept", &AcceptLoop::Accept),
                         InstanceMethod("read", &AcceptLoop::Read),
                         InstanceMethod("write", &AcceptLoop::Write),
                         InstanceMethod("writeStderr", &AcceptLoop::WriteStderr),
                         InstanceMethod("flush", &AcceptLoop::Flush),
                         InstanceMethod("setExitStatus", &AcceptLoop::SetExitStatus),
                         InstanceMethod("startFilterData", &AcceptLoop::StartFilterData),
                         InstanceMethod("finish", &AcceptLoop::Finish),
                         InstanceMethod("close", &AcceptLoop::Close),
                     });
}

// The synchronous loop serves one connection at a time: that is what it answers to FCGI_GET_VALUES.
AcceptLoop::AcceptLoop(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<AcceptLoop>(info), slot_(GuardLimitsFrom(info[2], 1)) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsString())
    ThrowTypeError(env, "new AcceptLoop(listenFd, webServerAddrs, limits, eagerParams)");
  listenFd_ = info[0].As<Napi::Number>().Int32Value();
  if (!allow_.Parse(info[1].As<Napi::String>().Utf8Value())) throw MakeError(env, "FCGI_WEB_SERVER_ADDRS", EINVAL);
  params_.SetEager(env, info[3]);
}

Napi::Value AcceptLoop::Accept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StopWhen stop;
  if (info[0].IsNumber()) stop.idleMs = info[0].As<Napi::Number>().Int32Value();
  if (info[1].IsNumber()) stop.parentPid = info[1].As<Napi::Number>().Int32Value();
  int code = slot_.Accept(listenFd_, allow_, stop);
  // A wait that ended without a request, by name (lib/addon/native.ts WaitEnd): JS decides what it means.
  if (code == ETIMEDOUT && slot_.guard().refusal() == 0) return Napi::String::New(env, "timedOut");
  if (code == ESRCH) return Napi::String::New(env, "parentExited");
  if (code == ECANCELED) return Napi::String::New(env, "SIGTERM");
  if (code != 0 && slot_.guard().refusal() != 0) throw MakeError(env, "accept", code, slot_.guard().refusalMessage());
  if (code != 0) throw MakeError(env, "accept", code);

  // Copied now, as the event-loop server copies them: libfcgi frees envp at the next finish or accept.
  const FCGX_Request& request = slot_.fcgx();
  napi_value eager;
  napi_value rest;
  params_.Copy(env, request.envp, &eager, &rest);
  Napi::Object result = Napi::Object::New(env);
  result.Set("facts", ParamCopy::FactsOf(request));
  result.Set("eager", eager);
  result.Set("rest", rest);
  return result;
}

Napi::Value AcceptLoop::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber()) {
    ThrowTypeError(env, "read(buffer, offset, length)");
  }
  Napi::Uint8Array buffer = info[0].As<Napi::Uint8Array>();
  size_t offset = info[1].As<Napi::Number>().Uint32Value();
  size_t length = info[2].As<Napi::Number>().Uint32Value();
  if (offset > buffer.ByteLength() || length > buffer.ByteLength() - offset) {
    ThrowTypeError(env, "read: offset and length must lie inside the buffer");
  }
  int count = 0;
  int code = slot_.Read(reinterpret_cast<char*>(buffer.Data()) + offset, static_cast<int>(length), &count);
  if (code != 0) throw MakeError(env, "read", code);
  return Napi::Number::New(env, count);
}

void AcceptLoop::WriteTo(const Napi::CallbackInfo& info, bool toStderr) {
  Napi::Env env = info.Env();
  std::string scratch;
  std::string_view bytes = BytesOf(env, info[0], scratch, "write expects a string or a Uint8Array");
  int length = static_cast<int>(bytes.size());
  int code = toStderr ? slot_.WriteStderr(bytes.data(), length) : slot_.Write(bytes.data(), length);
  if (code != 0) throw MakeError(env, toStderr ? "write stderr" : "write", code);
}

void AcceptLoop::Write(const Napi::CallbackInfo& info) { WriteTo(info, false); }

void AcceptLoop::WriteStderr(const Napi::CallbackInfo& info) { WriteTo(info, true); }

void AcceptLoop::Flush(const Napi::CallbackInfo& info) {
  int code = slot_.Flush();
  if (code != 0) throw MakeError(info.Env(), "flush", code);
}

void AcceptLoop::SetExitStatus(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) ThrowTypeError(info.Env(), "setExitStatus(status) expects a number");
  slot_.SetExitStatus(info[0].As<Napi::Number>().Int32Value());
}

void AcceptLoop::StartFilterData(const Napi::CallbackInfo& info) {
  int code = slot_.StartFilterData();
  if (code != 0) throw MakeError(info.Env(), "startFilterData", code);
}

Napi::Value AcceptLoop::Finish(const Napi::CallbackInfo& info) {
  int code = slot_.Finish();
  if (code == 0) return info.Env().Undefined();
  return MakeError(info.Env(), "finish", code).Value();
}

void AcceptLoop::Close(const Napi::CallbackInfo&) { slot_.CloseConnection(); }

}  // namespace fcgi
