// The Node side of native/relay/relay.c: accepts relays on the control socket (a Unix SOCK_SEQPACKET socket, so a
// message arrives whole or not at all), checks that each runs as this process's user, takes the listening socket each
// sends, and tells JS when a relay's connection closes. Which sockets to serve, and when to exit, is lib/relay's.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <unordered_map>

namespace fcgi {

// What dispatch(kind, id, value, why) is called with.
enum RelayDispatch {
  kRelaySocket = 0,   // relay `id` handed over a listening socket: value is its fd, now JS's to close
  kRelayGone = 1,     // relay `id`'s connection closed (it exited, or was stopped): its socket is not to be served
  kRelayRefused = 2,  // a connection was refused: value is the peer's uid (-1 if unknown); why says what was wrong
};

class RelayListener : public Napi::ObjectWrap<RelayListener> {
 public:
  static Napi::Function Define(Napi::Env env);
  // JS: new RelayListener(listenFd, dispatch); listenFd is a listening SOCK_SEQPACKET Unix socket, owned from now on.
  explicit RelayListener(const Napi::CallbackInfo& info);
  ~RelayListener() override;

 private:
  struct Relay;
  struct ListenPoll;
  // close(): stops accepting and closes every relay's connection (each relay then finds or starts another process).
  void Close(const Napi::CallbackInfo& info);
  // listen(listenFd): accepts relays on this listening socket from now on, in place of the one it had (closed), keeping
  // the relays connected: for a control socket made anew after its path went away.
  void Listen(const Napi::CallbackInfo& info);
  ListenPoll* Watch(Napi::Env env, int fd);
  void Unwatch(ListenPoll* listen, bool last);

  static void OnListenReadable(uv_poll_t* handle, int status, int events);
  static void OnRelayReadable(uv_poll_t* handle, int status, int events);
  static void OnHandshakeTimeout(uv_timer_t* handle);
  void AcceptRelays(int listenFd);
  void Receive(Relay& relay);
  void Drop(Relay& relay, bool tell);
  void Dispatch(RelayDispatch kind, uint32_t id, int value, const char* why);

  uv_loop_t* loop_ = nullptr;
  ListenPoll* listen_ = nullptr;
  bool closed_ = false;
  uint32_t nextId_ = 1;
  std::unordered_map<uint32_t, Relay*> relays_;
  Napi::FunctionReference dispatch_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
};

}  // namespace fcgi
