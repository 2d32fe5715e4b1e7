// The JS classes over Engine: AsyncServer starts and stops the worker threads, AsyncRequest forwards one request's
// orders to its worker. Results come back on the JS thread through one thread-safe function that calls `dispatch`.
#pragma once
#include <napi.h>

#include <memory>

#include "engine.h"

namespace fcgi {

// What dispatch(kind, request, code, payload) is called with.
enum DispatchKind {
  kDispatchRequest = 0,    // payload: [role, requestId, keepConn, params]
  kDispatchRead = 1,       // payload: a Buffer, or null at the end of the stream
  kDispatchWrite = 2,      // payload: true when the request is finished
  kDispatchStartData = 3,  // payload: undefined
  kDispatchAborted = 4,    // payload: undefined
  kDispatchExited = 5,     // every worker has exited; request undefined
  kDispatchRefused = 6,    // the record guard refused a request before it began; payload: why; request undefined
};

class AsyncServer : public Napi::ObjectWrap<AsyncServer> {
 public:
  static Napi::Function Define(Napi::Env env);
  // JS: new AsyncServer(listenFd, webServerAddrs, maxWorkers, limits, dispatch); workers start as requests need them.
  explicit AsyncServer(const Napi::CallbackInfo& info);

 private:
  void Start(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);
  // ref()/unref(): whether waiting for requests keeps the event loop alive, as with net.Server.
  void RefLoop(const Napi::CallbackInfo& info);
  void UnrefLoop(const Napi::CallbackInfo& info);

  static void CallJs(Napi::Env env, Napi::Function dispatch, AsyncServer* server, Event* event);

  Napi::ThreadSafeFunction tsfn_;
  std::unique_ptr<Engine> engine_;
};

class AsyncRequest : public Napi::ObjectWrap<AsyncRequest> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit AsyncRequest(const Napi::CallbackInfo& info);
  void Attach(std::shared_ptr<Job> job) { job_ = std::move(job); }

 private:
  // read(size)
  void Read(const Napi::CallbackInfo& info);
  // write(chunk: string | Uint8Array | null, end: boolean, exitStatus: number)
  void Write(const Napi::CallbackInfo& info);
  // writeStderr(chunk: string | Uint8Array)
  void WriteStderr(const Napi::CallbackInfo& info);
  // startData()
  void StartData(const Napi::CallbackInfo& info);

  std::shared_ptr<Job> job_;
};

}  // namespace fcgi
