// The JS class over RequestSlot: the synchronous calls of the accept loop, translated one for one.
#pragma once
#include <napi.h>

#include "accept_loop/request_slot.h"
#include "accept_loop/waits.h"
#include "params/param_copy.h"

namespace fcgi {

class AcceptLoop : public Napi::ObjectWrap<AcceptLoop> {
 public:
  static Napi::Function Define(Napi::Env env);
  // JS: new AcceptLoop(listenFd: number, webServerAddrs: string, limits: { maxParamsSize, headersTimeout,
  // requestTimeout }, eagerParams: { names, prefix } (params/param_copy.h))
  explicit AcceptLoop(const Napi::CallbackInfo& info);

 private:
  // (idleMs?, parentPid?) -> { facts, eager, rest } (params/param_copy.h), or, when the wait ends without a request,
  // how: 'timedOut' (idleMs passed), 'parentExited', 'SIGTERM' (lib/addon/native.ts WaitEnd). Other failures throw.
  Napi::Value Accept(const Napi::CallbackInfo& info);
  // (buffer, offset, length) -> bytes read; fewer than length only at the end of the stream
  Napi::Value Read(const Napi::CallbackInfo& info);
  // (chunk: string | Uint8Array); string chunks are written as UTF-8
  void Write(const Napi::CallbackInfo& info);
  void WriteStderr(const Napi::CallbackInfo& info);
  void Flush(const Napi::CallbackInfo& info);
  void SetExitStatus(const Napi::CallbackInfo& info);
  void StartFilterData(const Napi::CallbackInfo& info);
  // -> undefined, or the error code the request met (a finished request cannot fail any more; the caller decides)
  Napi::Value Finish(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);

  void WriteTo(const Napi::CallbackInfo& info, bool toStderr);

  RequestSlot slot_;
  AllowList allow_;
  ParamCopy params_;
  int listenFd_;
};

}  // namespace fcgi
