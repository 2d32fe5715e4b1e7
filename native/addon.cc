// The addon's exports, and nothing else: each entry translates libfcgi or socket calls for lib/addon/native.ts.
#include <napi.h>

#include "accept_loop/accept_loop.h"
#include "accept_loop/stop_signal.h"
#include "event_loop/loop_server.h"
#include "js/errors.h"
#include "js/instance.h"
#include "libfcgi/init.h"
#include "params/param_names.h"
#include "process/dup2.h"
#include "process/environ.h"
#include "process/replace_process.h"
#include "protocol/scan_records.h"
#include "relay/relay_listener.h"
#include "socket/listen.h"

namespace fcgi {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new InstanceData());
  int code = InitLibfcgiKeepingSignals();
  if (code != 0) throw MakeError(env, "FCGX_Init", code);

  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass, "setErrorClass"));
  exports.Set("errorFor", Napi::Function::New(env, ErrorFor, "errorFor"));
  exports.Set("listenTcp", Napi::Function::New(env, ListenTcp, "listenTcp"));
  exports.Set("listenUnix", Napi::Function::New(env, ListenUnix, "listenUnix"));
  exports.Set("isListeningSocket", Napi::Function::New(env, IsListeningSocket, "isListeningSocket"));
  exports.Set("unixSocketPath", Napi::Function::New(env, UnixSocketPath, "unixSocketPath"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("environ", Napi::Function::New(env, Environ, "environ"));
  exports.Set("dup2", Napi::Function::New(env, Dup2, "dup2"));
  exports.Set("replaceProcess", Napi::Function::New(env, ReplaceProcess, "replaceProcess"));
  exports.Set("watchStopSignal", Napi::Function::New(env, WatchStopSignalJs, "watchStopSignal"));
  exports.Set("AcceptLoop", AcceptLoop::Define(env));
  exports.Set("LoopServer", LoopServer::Define(env));
  exports.Set("RelayListener", RelayListener::Define(env));
  exports.Set("knownParamNames", KnownParamNames(env));
  exports.Set("scanRecords", Napi::Function::New(env, ScanRecords, "scanRecords"));
  return exports;
}

}  // namespace fcgi

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return fcgi::Init(env, exports); }

NODE_API_MODULE(fcgi, InitAddon)
