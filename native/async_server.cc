// The JS classes over Engine: AsyncServer starts and stops the worker threads, AsyncRequest forwards one request's
// orders to its worker. Results come back on the JS thread through one thread-safe function that calls `dispatch`.
#include "async_server.h"

#include <string>

#include "errors.h"
#include "instance.h"
#include "options.h"

namespace fcgi {

namespace {

// Copies a string (as UTF-8) or the bytes of a Uint8Array; null or undefined is empty.
std::string BytesOf(Napi::Env env, const Napi::Value& value) {
  if (value.IsTypedArray()) {
    Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
    return std::string(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength());
  }
  if (value.IsString()) return value.As<Napi::String>().Utf8Value();
  if (value.IsNull() || value.IsUndefined()) return std::string();
  ThrowTypeError(env, "expected a string or a Uint8Array");
}

Napi::Reference<Napi::Object>* JsObjectOf(const std::shared_ptr<Job>& job) {
  return static_cast<Napi::Reference<Napi::Object>*>(job->jsObject);
}

}  // namespace

Napi::Function AsyncServer::Define(Napi::Env env) {
  return DefineClass(env, "AsyncServer",
                     {
                         InstanceMethod("start", &AsyncServer::Start),
                         InstanceMethod("close", &AsyncServer::Close),
                         InstanceMethod("ref", &AsyncServer::RefLoop),
                         InstanceMethod("unref", &AsyncServer::UnrefLoop),
                     });
}

AsyncServer::AsyncServer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AsyncServer>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber() || !info[4].IsFunction()) {
    ThrowTypeError(env, "new AsyncServer(listenFd, webServerAddrs, maxWorkers, limits, dispatch)");
  }
  int listenFd = info[0].As<Napi::Number>().Int32Value();
  AllowList allow;
  if (!allow.Parse(info[1].As<Napi::String>().Utf8Value())) throw MakeError(env, "FCGI_WEB_SERVER_ADDRS", EINVAL);
  int maxWorkers = info[2].As<Napi::Number>().Int32Value();
  if (maxWorkers < 1) ThrowTypeError(env, "maxWorkers must be at least 1");

  GuardLimits limits = GuardLimitsFrom(info[3], maxWorkers);

  tsfn_ = Napi::ThreadSafeFunction::New(env, info[4].As<Napi::Function>(), "libfcgi", 0, 1);
  engine_ = std::make_unique<Engine>(listenFd, std::move(allow), maxWorkers, limits, [this](Event* event) {
    auto status = tsfn_.NonBlockingCall(
        event, [this](Napi::Env env, Napi::Function dispatch, Event* data) { CallJs(env, dispatch, this, data); });
    if (status != napi_ok) delete event;
  });
}

void AsyncServer::Start(const Napi::CallbackInfo& info) {
  Ref();  // the JS object stays alive while the workers may call back
  int code = engine_->Start();
  if (code != 0) {
    Unref();
    throw MakeError(info.Env(), "start", code);
  }
}

void AsyncServer::Close(const Napi::CallbackInfo&) { engine_->Close(); }

void AsyncServer::RefLoop(const Napi::CallbackInfo& info) { tsfn_.Ref(info.Env()); }

void AsyncServer::UnrefLoop(const Napi::CallbackInfo& info) { tsfn_.Unref(info.Env()); }

void AsyncServer::CallJs(Napi::Env env, Napi::Function dispatch, AsyncServer* server, Event* event) {
  std::unique_ptr<Event> owned(event);
  if (env == nullptr) return;  // the environment is going away
  Napi::HandleScope scope(env);

  if (event->kind == Event::kWorkersExited) {
    server->engine_->Join();
    dispatch.Call(
        {Napi::Number::New(env, kDispatchExited), env.Undefined(), Napi::Number::New(env, 0), env.Undefined()});
    server->tsfn_.Release();
    server->Unref();
    return;
  }

  if (event->kind == Event::kRefused) {
    Napi::String why = Napi::String::New(env, event->data.get(), event->length);
    dispatch.Call(
        {Napi::Number::New(env, kDispatchRefused), env.Undefined(), Napi::Number::New(env, event->code), why});
    return;
  }

  const std::shared_ptr<Job>& job = event->job;
  Napi::Value code = Napi::Number::New(env, event->code);
  if (event->kind == Event::kRequest) {
    InstanceData* data = env.GetInstanceData<InstanceData>();
    Napi::Object request = data->asyncRequestClass.New({});
    AsyncRequest::Unwrap(request)->Attach(job);
    job->jsObject = new Napi::Reference<Napi::Object>(Napi::Persistent(request));
    Napi::Array params = Napi::Array::New(env, job->params.size());
    for (size_t i = 0; i < job->params.size(); i++) {
      napi_value text;
      napi_create_string_latin1(env, job->params[i].data(), job->params[i].size(), &text);
      params.Set(static_cast<uint32_t>(i), Napi::Value(env, text));
    }
    job->params.clear();
    Napi::Array payload = Napi::Array::New(env, 4);
    payload.Set(0u, Napi::Number::New(env, job->role));
    payload.Set(1u, Napi::Number::New(env, job->requestId));
    payload.Set(2u, Napi::Boolean::New(env, job->keepConn));
    payload.Set(3u, params);
    dispatch.Call({Napi::Number::New(env, kDispatchRequest), request, code, payload});
    return;
  }

  Napi::Reference<Napi::Object>* reference = JsObjectOf(job);
  if (reference == nullptr) return;  // the request is over; a late abort notice has nobody to tell
  Napi::Object request = reference->Value();
  switch (event->kind) {
    case Event::kReadDone: {
      Napi::Value chunk = env.Null();
      if (event->length > 0) {
        char* bytes = event->data.release();
        chunk = Napi::Buffer<char>::New(env, bytes, event->length, [](Napi::Env, char* memory) { delete[] memory; });
      }
      dispatch.Call({Napi::Number::New(env, kDispatchRead), request, code, chunk});
      break;
    }
    case Event::kWriteDone:
      if (event->final) {
        delete reference;
        job->jsObject = nullptr;
      }
      dispatch.Call({Napi::Number::New(env, kDispatchWrite), request, code, Napi::Boolean::New(env, event->final)});
      break;
    case Event::kStartDataDone:
      dispatch.Call({Napi::Number::New(env, kDispatchStartData), request, code, env.Undefined()});
      break;
    case Event::kAborted:
      dispatch.Call({Napi::Number::New(env, kDispatchAborted), request, code, env.Undefined()});
      break;
    default:
      break;
  }
}

Napi::Function AsyncRequest::Define(Napi::Env env) {
  return DefineClass(env, "AsyncRequest",
                     {
                         InstanceMethod("read", &AsyncRequest::Read),
                         InstanceMethod("write", &AsyncRequest::Write),
                         InstanceMethod("writeStderr", &AsyncRequest::WriteStderr),
                         InstanceMethod("startData", &AsyncRequest::StartData),
                     });
}

AsyncRequest::AsyncRequest(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AsyncRequest>(info) {}

void AsyncRequest::Read(const Napi::CallbackInfo& info) {
  if (!job_ || !info[0].IsNumber()) ThrowTypeError(info.Env(), "read(size) on a request in flight");
  Command command(Command::kRead);
  command.size = info[0].As<Napi::Number>().Int32Value();
  job_->Enqueue(std::move(command));
}

void AsyncRequest::Write(const Napi::CallbackInfo& info) {
  if (!job_) ThrowTypeError(info.Env(), "write on a request that is not in flight");
  Command command(Command::kWrite);
  command.data = BytesOf(info.Env(), info[0]);
  command.end = info[1].ToBoolean();
  command.exitStatus = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
  bool end = command.end;
  job_->Enqueue(std::move(command));
  if (end) job_.reset();  // the worker finishes it; further orders would have no request to go to
}

void AsyncRequest::WriteStderr(const Napi::CallbackInfo& info) {
  if (!job_) ThrowTypeError(info.Env(), "writeStderr on a request that is not in flight");
  Command command(Command::kWrite);
  command.data = BytesOf(info.Env(), info[0]);
  command.toStderr = true;
  job_->Enqueue(std::move(command));
}

void AsyncRequest::StartData(const Napi::CallbackInfo& info) {
  if (!job_) ThrowTypeError(info.Env(), "startData on a request that is not in flight");
  job_->Enqueue(Command(Command::kStartData));
}

}  // namespace fcgi
