// Accepts relays on the control socket and takes the listening socket each hands over. See relay_listener.h.
#include "relay/relay_listener.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "js/errors.h"
#include "socket/listen.h"

namespace fcgi {

namespace {

// What a relay sends with its socket (native/relay/relay.c); anything else is refused.
constexpr char kHello[] = "libfcgi-relay 1";
constexpr uint64_t kHandshakeMs = 5000;  // a connection that has not handed its socket over by then is closed
constexpr size_t kMaxRelays = 1024;      // beyond, connections are refused at once: a flood costs no descriptors
constexpr int kMaxFdsPerMessage = 8;

}  // namespace

struct RelayListener::Relay {
  RelayListener* owner = nullptr;
  uint32_t id = 0;
  int fd = -1;
  bool handed = false;
  int openHandles = 2;
  uv_poll_t poll{};
  uv_timer_t timer{};
};

// The listening socket being watched: on the heap, so that listen() can start watching a new one while libuv closes
// the old one.
struct RelayListener::ListenPoll {
  RelayListener* owner = nullptr;
  int fd = -1;
  uv_poll_t poll{};
};

Napi::Function RelayListener::Define(Napi::Env env) {
  return DefineClass(
      env, "RelayListener",
      {InstanceMethod("close", &RelayListener::Close), InstanceMethod("listen", &RelayListener::Listen)});
}

RelayListener::RelayListener(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RelayListener>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsFunction())
    ThrowTypeError(env, "new RelayListener(listenFd, dispatch) expects a number and a function");
  dispatch_ = Napi::Persistent(info[1].As<Napi::Function>());
  asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "libfcgi.relay");
  napi_get_uv_event_loop(env, &loop_);
  listen_ = Watch(env, info[0].As<Napi::Number>().Int32Value());
  Ref();  // alive while libuv may call back
}

RelayListener::ListenPoll* RelayListener::Watch(Napi::Env env, int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw MakeError(env, "fcntl", errno);
  auto* listen = new ListenPoll();
  listen->owner = this;
  listen->fd = fd;
  listen->poll.data = listen;
  int code = uv_poll_init(loop_, &listen->poll, fd);
  if (code != 0) {
    delete listen;
    throw MakeError(env, "uv_poll_init", -code);
  }
  uv_poll_start(&listen->poll, UV_READABLE, OnListenReadable);
  return listen;
}

void RelayListener::Unwatch(ListenPoll* listen, bool last) {
  listen->owner = last ? this : nullptr;  // the last one's close lets the JS object go
  uv_close(reinterpret_cast<uv_handle_t*>(&listen->poll), [](uv_handle_t* handle) {
    auto* closed = static_cast<ListenPoll*>(handle->data);
    close(closed->fd);
    if (closed->owner != nullptr) closed->owner->Unref();
    delete closed;
  });
}

void RelayListener::Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowTypeError(env, "listen(listenFd) expects a number");
  if (closed_) ThrowTypeError(env, "listen(): the relay listener is closed");
  ListenPoll* old = listen_;
  listen_ = Watch(env, info[0].As<Napi::Number>().Int32Value());
  Unwatch(old, false);
}

RelayListener::~RelayListener() = default;  // close() has let go of everything before the JS object can be collected

void RelayListener::Close(const Napi::CallbackInfo&) {
  if (closed_) return;
  closed_ = true;
  Unwatch(listen_, true);
  listen_ = nullptr;
  std::vector<Relay*> relays;
  for (auto& [id, relay] : relays_) relays.push_back(relay);
  for (Relay* relay : relays) Drop(*relay, false);
}

void RelayListener::OnListenReadable(uv_poll_t* handle, int status, int) {
  auto* listen = static_cast<ListenPoll*>(handle->data);
  if (status == 0 && listen->owner != nullptr) listen->owner->AcceptRelays(listen->fd);
}

void RelayListener::AcceptRelays(int listenFd) {
  for (int i = 0; i < 64 && !closed_; i++) {
    int fd = accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;  // EAGAIN, or out of descriptors: the connection waits, and its relay with it
    ucred peer{};
    socklen_t length = sizeof(peer);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) {
      close(fd);
      Dispatch(kRelayRefused, 0, -1, "its user could not be read (SO_PEERCRED)");
      continue;
    }
    if (peer.uid != geteuid()) {
      close(fd);
      Dispatch(kRelayRefused, 0, static_cast<int>(peer.uid), "it runs as another user");
      continue;
    }
    if (relays_.size() >= kMaxRelays) {
      close(fd);
      Dispatch(kRelayRefused, 0, static_cast<int>(peer.uid), "too many relay connections at once");
      continue;
    }
    auto* relay = new Relay();
    relay->owner = this;
    relay->id = nextId_++;
    relay->fd = fd;
    relay->poll.data = relay;
    relay->timer.data = relay;
    uv_poll_init(loop_, &relay->poll, fd);
    uv_timer_init(loop_, &relay->timer);
    // A relay's connection alone never keeps the process alive: the sockets it serves do (lib/relay).
    uv_unref(reinterpret_cast<uv_handle_t*>(&relay->poll));
    uv_unref(reinterpret_cast<uv_handle_t*>(&relay->timer));
    uv_poll_start(&relay->poll, UV_READABLE, OnRelayReadable);
    uv_timer_start(&relay->timer, OnHandshakeTimeout, kHandshakeMs, 0);
    relays_[relay->id] = relay;
  }
}

void RelayListener::OnRelayReadable(uv_poll_t* handle, int, int) {
  auto* relay = static_cast<Relay*>(handle->data);
  relay->owner->Receive(*relay);
}

void RelayListener::OnHandshakeTimeout(uv_timer_t* handle) {
  auto* relay = static_cast<Relay*>(handle->data);
  RelayListener* owner = relay->owner;
  owner->Drop(*relay, false);
  owner->Dispatch(kRelayRefused, 0, -1, "it sent no socket within 5 s");
}

void RelayListener::Receive(Relay& relay) {
  char payload[64];
  alignas(cmsghdr) char ancillary[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
  iovec vector{payload, sizeof(payload)};
  msghdr message{};
  message.msg_iov = &vector;
  message.msg_iovlen = 1;
  message.msg_control = ancillary;
  message.msg_controllen = sizeof(ancillary);
  ssize_t size = recvmsg(relay.fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (size < 0 && (errno == EAGAIN || errno == EINTR)) return;

  std::vector<int> fds;
  for (cmsghdr* header = CMSG_FIRSTHDR(&message); size >= 0 && header != nullptr;
       header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
      fds.push_back(fd);
    }
  }
  const char* wrong = nullptr;
  if (size <= 0) {
    wrong = "its connection closed";
  } else if (relay.handed) {
    wrong = "it sent a second message";
  } else if (static_cast<size_t>(size) != sizeof(kHello) - 1 || std::memcmp(payload, kHello, size) != 0) {
    wrong = "it sent something other than a relay's greeting";
  } else if ((message.msg_flags & MSG_CTRUNC) != 0 || fds.size() != 1) {
    wrong = "it sent other than one socket";
  } else if (!IsListening(fds[0])) {
    wrong = "what it sent is not a listening socket";
  } else if (send(relay.fd, "k", 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
    wrong = "it left before it was answered";
  }
  if (wrong != nullptr) {
    for (int fd : fds) close(fd);
    bool refused = !relay.handed && size > 0;
    Drop(relay, relay.handed);
    if (refused) Dispatch(kRelayRefused, 0, -1, wrong);
    return;
  }
  relay.handed = true;
  uv_timer_stop(&relay.timer);
  Dispatch(kRelaySocket, relay.id, fds[0], nullptr);
}

void RelayListener::Drop(Relay& relay, bool tell) {
  if (relays_.erase(relay.id) == 0) return;  // already dropped (close() from a dispatch)
  uint32_t id = relay.id;
  auto closed = [](uv_handle_t* handle) {
    auto* relay = static_cast<Relay*>(handle->data);
    if (handle == reinterpret_cast<uv_handle_t*>(&relay->poll)) close(relay->fd);  // after libuv let go of it
    if (--relay->openHandles == 0) delete relay;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&relay.poll), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&relay.timer), closed);
  if (tell) Dispatch(kRelayGone, id, 0, nullptr);
}

void RelayListener::Dispatch(RelayDispatch kind, uint32_t id, int value, const char* why) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  try {
    dispatch_.MakeCallback(Value(),
                           {Napi::Number::New(env, kind), Napi::Number::New(env, id), Napi::Number::New(env, value),
                            why != nullptr ? Napi::String::New(env, why) : env.Undefined()},
                           *asyncContext_);
  } catch (const Napi::Error& error) {
    napi_fatal_exception(env, error.Value());
  }
}

}  // namespace fcgi
