// The JS class over the event-loop server: LoopServer accepts connections on Node's own event loop (libuv), owns them
// (native/event_loop/connection.h), and translates each request's orders from JS and its events back to JS. No thread
// besides the JS thread ever runs here. Requests are named by a serial number in both directions.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "event_loop/connection.h"
#include "params/param_copy.h"
#include "socket/admission.h"

namespace fcgi {

// What dispatch(kind, serial, code, payload) is called with.
enum LoopDispatch {
  kLoopRequest = 0,    // code: role | keepConn << 2 | requestId << 3; payload, rest: the parameters (see OnRequest)
  kLoopReadable = 1,   // a read that returned undefined may be tried again
  kLoopDrained = 2,    // a write that returned false has gone
  kLoopStartData = 3,  // code: how a startData that returned undefined ended
  kLoopAborted = 4,    // the web server gave up on the request
  kLoopClosed = 5,     // the server has closed: every connection is gone; serial 0
  kLoopRefused = 6,    // the record guard refused a request before it began, or webServerUids a peer; payload: why
};

class LoopServer : public Napi::ObjectWrap<LoopServer>, public ConnectionOwner {
 public:
  static Napi::Function Define(Napi::Env env);
  // JS: new LoopServer(listenFd, webServerAddrs, maxInFlight (0: no limit), limits, eagerParams, dispatch,
  //                    webServerUids)
  // listenFd -1: no listener of its own; connections come through adopt(). eagerParams: which parameters JS reads for
  // every request (params/param_copy.h). webServerUids: the user ids a Unix peer
  // may run as (empty: any); another's connection is refused.
  explicit LoopServer(const Napi::CallbackInfo& info);
  ~LoopServer() override;

  void OnRequest(Connection& connection) override;
  void OnInput(Connection& connection) override;
  void OnDrained(Connection& connection) override;
  void OnDataStarted(Connection& connection, int code) override;
  void OnAborted(Connection& connection) override;
  void OnRefused(int code, const std::string& why) override;
  void OnClosed(Connection& connection) override;
  bool Refed() const override { return refed_; }
  void Schedule(Connection& connection) override;
  bool MayBegin(Connection& connection) override;

 private:
  void Start(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);
  // ref()/unref(): whether waiting for requests keeps the event loop alive, as with net.Server.
  void RefLoop(const Napi::CallbackInfo& info);
  void UnrefLoop(const Napi::CallbackInfo& info);
  void SetRefed(bool refed);
  // read(serial, size): a Buffer, null at the end, undefined for "not yet" (then 'readable'), or an error code.
  Napi::Value Read(const Napi::CallbackInfo& info);
  // write(serial, chunk, end, exitStatus): true, false for "wait for 'drained'", or an error code.
  Napi::Value Write(const Napi::CallbackInfo& info);
  // writeStderr(serial, chunk): as write, without end.
  Napi::Value WriteStderr(const Napi::CallbackInfo& info);
  // startData(serial): 0, undefined for "not yet" (then 'startData' with the code), or an error code.
  Napi::Value StartData(const Napi::CallbackInfo& info);
  // adopt(fd): serves a connection another listener accepted (a node:cluster primary's, handed over as a node:net
  // socket); it takes a duplicate of fd, which the caller still closes.
  void Adopt(const Napi::CallbackInfo& info);

  static void OnListenReadable(uv_poll_t* handle, int status, int events);
  static void OnSoon(uv_timer_t* handle);
  void AcceptConnections();
  // Admits a connection accepted or adopted (webServerAddrs, webServerUids) and serves it; refused, it is closed.
  void Serve(int fd, const sockaddr_storage& peer);
  bool HasListener() const { return listenFd_ >= 0; }
  void WatchListener();
  Connection* InFlight(const Napi::CallbackInfo& info);
  void Dispatch(LoopDispatch kind, uint32_t serial, int code, napi_value payload, napi_value rest = nullptr);
  void CloseWhenDone();
  // A request ended: connections waiting to begin one may, and the listener may take connections again.
  void RequestEnded();

  uv_loop_t* loop_ = nullptr;
  int listenFd_;
  AllowList allow_;
  std::vector<uid_t> webServerUids_;
  GuardLimits limits_;
  int maxInFlight_;
  Napi::FunctionReference dispatch_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
  uv_poll_t listenPoll_;
  uv_timer_t soonTimer_;
  uv_timer_t acceptPause_;  // out of file descriptors: accepting waits a moment instead of spinning
  bool acceptPaused_ = false;
  bool started_ = false;
  bool listenWatched_ = false;
  bool refed_ = true;
  bool closing_ = false;
  bool closed_ = false;
  std::vector<Connection*> soon_;
  std::unordered_set<Connection*> connections_;
  std::unordered_map<uint32_t, Connection*> requests_;
  std::deque<Connection*> waitingToBegin_;  // requests that came while maxInFlight requests were
  uint32_t nextSerial_ = 1;
  std::string chunk_;  // a write's bytes, reused
  ParamCopy params_;
};

}  // namespace fcgi
