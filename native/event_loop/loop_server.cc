// The JS class over the event-loop server. See loop_server.h.
#include "event_loop/loop_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "js/bytes.h"
#include "js/errors.h"
#include "js/options.h"
#include "params/param_copy.h"

namespace fcgi {

namespace {

constexpr int kAcceptsPerWake = 64;  // then the connections already open get their turn

// A write's chunk: null or undefined writes nothing (the end of a request may come without bytes).
std::string_view ChunkOf(Napi::Env env, const Napi::Value& value, std::string& scratch) {
  if (value.IsNull() || value.IsUndefined()) return std::string_view();
  return BytesOf(env, value, scratch, "expected a string or a Uint8Array");
}

}  // namespace

Napi::Function LoopServer::Define(Napi::Env env) {
  return DefineClass(env, "LoopServer",
                     {
                         InstanceMethod("start", &LoopServer::Start),
                         InstanceMethod("close", &LoopServer::Close),
                         InstanceMethod("ref", &LoopServer::RefLoop),
                         InstanceMethod("unref", &LoopServer::UnrefLoop),
                         InstanceMethod("read", &LoopServer::Read),
                         InstanceMethod("write", &LoopServer::Write),
                         InstanceMethod("writeStderr", &LoopServer::WriteStderr),
                         InstanceMethod("startData", &LoopServer::StartData),
                         InstanceMethod("adopt", &LoopServer::Adopt),
                     });
}

LoopServer::LoopServer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LoopServer>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber() || !info[5].IsFunction() ||
      !info[6].IsArray()) {
    ThrowTypeError(
        env, "new LoopServer(listenFd, webServerAddrs, maxInFlight, limits, eagerParams, dispatch, webServerUids)");
  }
  listenFd_ = info[0].As<Napi::Number>().Int32Value();
  if (!allow_.Parse(info[1].As<Napi::String>().Utf8Value())) throw MakeError(env, "FCGI_WEB_SERVER_ADDRS", EINVAL);
  maxInFlight_ = info[2].As<Napi::Number>().Int32Value();
  // FCGI_MAX_CONNS for GET_VALUES: without a limit on requests, the connections the process can open.
  rlimit files{};
  int maxConns = maxInFlight_;
  if (maxConns <= 0)
    maxConns =
        getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < 1000000 ? static_cast<int>(files.rlim_cur) : 1000000;
  limits_ = GuardLimitsFrom(info[3], maxConns);
  params_.SetEager(env, info[4]);
  dispatch_ = Napi::Persistent(info[5].As<Napi::Function>());
  Napi::Array uids = info[6].As<Napi::Array>();
  for (uint32_t i = 0; i < uids.Length(); i++) webServerUids_.push_back(uids.Get(i).As<Napi::Number>().Uint32Value());
  asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "libfcgi");
  napi_get_uv_event_loop(env, &loop_);
  listenPoll_.data = this;
  soonTimer_.data = this;
  acceptPause_.data = this;
}

LoopServer::~LoopServer() {
  for (Connection* connection : connections_) delete connection;
}

void LoopServer::Start(const Napi::CallbackInfo& info) {
  if (started_) ThrowTypeError(info.Env(), "start() on a server already started");
  // Several processes may wait on one listening socket (spawn-fcgi -F, cluster): the ones that lose a connection to
  // another must not block in accept().
  if (HasListener()) {
    int flags = fcntl(listenFd_, F_GETFL);
    if (flags < 0 || fcntl(listenFd_, F_SETFL, flags | O_NONBLOCK) < 0) throw MakeError(info.Env(), "start", errno);
    int code = uv_poll_init(loop_, &listenPoll_, listenFd_);
    if (code != 0) throw MakeError(info.Env(), "start", -code);
  }
  uv_timer_init(loop_, &soonTimer_);
  uv_timer_init(loop_, &acceptPause_);  // while it runs, it stands for the listener: ref()ed as the listener is
  if (!refed_) uv_unref(reinterpret_cast<uv_handle_t*>(&acceptPause_));
  started_ = true;
  Ref();  // the JS object stays alive while libuv may call back
  WatchListener();
}

void LoopServer::WatchListener() {
  if (!HasListener()) return;
  bool want = !closing_ && !acceptPaused_ && (maxInFlight_ <= 0 || static_cast<int>(requests_.size()) < maxInFlight_);
  if (want == listenWatched_) return;
  listenWatched_ = want;
  if (want) {
    uv_poll_start(&listenPoll_, UV_READABLE, OnListenReadable);
  } else {
    uv_poll_stop(&listenPoll_);
  }
  if (!refed_) uv_unref(reinterpret_cast<uv_handle_t*>(&listenPoll_));
}

void LoopServer::OnListenReadable(uv_poll_t* handle, int status, int) {
  auto* server = static_cast<LoopServer*>(handle->data);
  if (status == 0) server->AcceptConnections();
}

void LoopServer::AcceptConnections() {
  for (int i = 0; i < kAcceptsPerWake && listenWatched_; i++) {
    sockaddr_storage peer{};
    socklen_t length = sizeof(peer);
    int fd = accept4(listenFd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        // The connection stays in the listen queue, and the listening socket stays readable: wait a moment for a
        // descriptor to free up rather than spin.
        acceptPaused_ = true;
        WatchListener();
        uv_timer_start(
            &acceptPause_,
            [](uv_timer_t* handle) {
              auto* server = static_cast<LoopServer*>(handle->data);
              server->acceptPaused_ = false;
              server->WatchListener();
            },
            100, 0);
      }
      return;  // EAGAIN: another process took it, or none is left
    }
    Serve(fd, peer);
  }
}

void LoopServer::Serve(int fd, const sockaddr_storage& peer) {
  if (!AdmitConnection(fd, peer, allow_)) {
    OnRefused(EACCES, AddressRefusal(peer));
    return;
  }
  long peerUid = -1;
  if (!AllowsPeerUid(fd, peer, webServerUids_, &peerUid)) {
    close(fd);
    OnRefused(EACCES, peerUid < 0 ? "a local peer whose user could not be read (SO_PEERCRED)"
                                  : "a local process of uid " + std::to_string(peerUid) +
                                        " connected, and webServerUids does not list it");
    return;
  }
  auto* connection = new Connection(*this, loop_, fd, limits_);
  connections_.insert(connection);
  connection->Start();
}

void LoopServer::Adopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowTypeError(env, "adopt(fd): expected a connected socket's file descriptor");
  if (!started_ || closing_) ThrowTypeError(env, "adopt(fd) on a server not started, or closing");
  int fd = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 3);
  if (fd < 0) throw MakeError(env, "adopt", errno);
  int flags = fcntl(fd, F_GETFL);
  sockaddr_storage peer{};
  socklen_t length = sizeof(peer);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
      getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) < 0) {
    int code = errno;
    close(fd);
    throw MakeError(env, "adopt", code);
  }
  Serve(fd, peer);
}

void LoopServer::Schedule(Connection& connection) {
  if (soon_.empty()) uv_timer_start(&soonTimer_, OnSoon, 0, 0);
  soon_.push_back(&connection);
}

bool LoopServer::MayBegin(Connection& connection) {
  if (maxInFlight_ <= 0 || static_cast<int>(requests_.size()) < maxInFlight_) return true;
  if (std::find(waitingToBegin_.begin(), waitingToBegin_.end(), &connection) == waitingToBegin_.end()) {
    waitingToBegin_.push_back(&connection);
  }
  return false;
}

void LoopServer::RequestEnded() {
  WatchListener();
  while (!waitingToBegin_.empty() && static_cast<int>(requests_.size()) < maxInFlight_) {
    Connection* next = waitingToBegin_.front();
    waitingToBegin_.pop_front();
    next->Wake();
  }
}

void LoopServer::OnSoon(uv_timer_t* handle) {
  auto* server = static_cast<LoopServer*>(handle->data);
  std::vector<Connection*> due;
  due.swap(server->soon_);
  for (Connection* connection : due) connection->RunSoon();
}

void LoopServer::Dispatch(LoopDispatch kind, uint32_t serial, int code, napi_value payload, napi_value rest) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  try {
    dispatch_.MakeCallback(Value(),
                           {Napi::Number::New(env, kind), Napi::Number::New(env, serial), Napi::Number::New(env, code),
                            payload != nullptr ? payload : env.Undefined(), rest != nullptr ? rest : env.Undefined()},
                           *asyncContext_);
  } catch (const Napi::Error& error) {
    napi_fatal_exception(env, error.Value());  // as an exception thrown in any event handler: 'uncaughtException'
  }
}

void LoopServer::OnRequest(Connection& connection) {
  // Serials wrap after 2^32 requests: one that a request still in flight holds (or 0, "no request") is passed over.
  uint32_t serial;
  do serial = nextSerial_++;
  while (serial == 0 || !requests_.try_emplace(serial, &connection).second);
  connection.serial = serial;
  WatchListener();

  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  const FCGX_Request& request = connection.request();
  napi_value eager;
  napi_value rest;
  params_.Copy(env, request.envp, &eager, &rest);
  int facts = ParamCopy::FactsOf(request);
  Dispatch(kLoopRequest, serial, facts, eager, rest);
}

void LoopServer::OnInput(Connection& connection) { Dispatch(kLoopReadable, connection.serial, 0, nullptr); }

void LoopServer::OnDrained(Connection& connection) { Dispatch(kLoopDrained, connection.serial, 0, nullptr); }

void LoopServer::OnDataStarted(Connection& connection, int code) {
  Dispatch(kLoopStartData, connection.serial, code, nullptr);
}

void LoopServer::OnAborted(Connection& connection) { Dispatch(kLoopAborted, connection.serial, 0, nullptr); }

void LoopServer::OnRefused(int code, const std::string& why) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Dispatch(kLoopRefused, 0, code, Napi::String::New(env, why));
}

void LoopServer::OnClosed(Connection& connection) {
  connections_.erase(&connection);
  auto waiting = std::find(waitingToBegin_.begin(), waitingToBegin_.end(), &connection);
  if (waiting != waitingToBegin_.end()) waitingToBegin_.erase(waiting);
  delete &connection;
  CloseWhenDone();
}

// Once closing and every connection is gone: the handles close, then JS hears 'closed'.
void LoopServer::CloseWhenDone() {
  if (!closing_ || closed_ || !connections_.empty()) return;
  closed_ = true;
  if (HasListener()) uv_close(reinterpret_cast<uv_handle_t*>(&listenPoll_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&acceptPause_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&soonTimer_), [](uv_handle_t* handle) {
    auto* server = static_cast<LoopServer*>(handle->data);
    server->Dispatch(kLoopClosed, 0, 0, nullptr);
    server->dispatch_.Reset();
    server->Unref();
  });
}

void LoopServer::Close(const Napi::CallbackInfo&) {
  if (!started_ || closing_) return;
  closing_ = true;
  WatchListener();
  // Copied: an idle connection closing may not leave the set before its handles have closed, but be safe anyway.
  std::vector<Connection*> open(connections_.begin(), connections_.end());
  for (Connection* connection : open) connection->CloseWhenIdle();
  if (connections_.empty()) {
    // Nothing to wait for; still report from a libuv callback, as net.Server's 'close' comes on a later tick.
    uv_timer_start(
        &soonTimer_, [](uv_timer_t* handle) { static_cast<LoopServer*>(handle->data)->CloseWhenDone(); }, 0, 0);
  }
}

void LoopServer::RefLoop(const Napi::CallbackInfo&) { SetRefed(true); }

void LoopServer::UnrefLoop(const Napi::CallbackInfo&) { SetRefed(false); }

// The listener, and while accepting waits for a descriptor its timer, keep the loop alive as refed_ says; so do idle
// connections (Connection::UpdateWatch asks Refed()).
void LoopServer::SetRefed(bool refed) {
  refed_ = refed;
  if (started_ && !closed_) {
    for (auto* handle : {reinterpret_cast<uv_handle_t*>(&listenPoll_), reinterpret_cast<uv_handle_t*>(&acceptPause_)}) {
      if (handle == reinterpret_cast<uv_handle_t*>(&listenPoll_) && !HasListener()) continue;
      if (refed) {
        uv_ref(handle);
      } else {
        uv_unref(handle);
      }
    }
  }
  for (Connection* connection : connections_) connection->RefChanged();
}

Connection* LoopServer::InFlight(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) ThrowTypeError(info.Env(), "expected a request's serial number");
  auto found = requests_.find(info[0].As<Napi::Number>().Uint32Value());
  return found == requests_.end() ? nullptr : found->second;
}

Napi::Value LoopServer::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Connection* connection = InFlight(info);
  if (connection == nullptr) return Napi::Number::New(env, FCGX_CALL_SEQ_ERROR);
  int size = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : static_cast<int>(kChunk);
  if (size <= 0 || size > static_cast<int>(kChunk)) size = static_cast<int>(kChunk);
  char buffer[kChunk];
  int count = 0;
  int code = connection->Read(buffer, size, &count);
  if (code == Connection::kLater) return env.Undefined();
  if (code != 0) return Napi::Number::New(env, code);
  if (count == 0) return env.Null();
  return Napi::Buffer<char>::Copy(env, buffer, static_cast<size_t>(count));
}

Napi::Value LoopServer::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Connection* connection = InFlight(info);
  if (connection == nullptr) return Napi::Number::New(env, FCGX_CALL_SEQ_ERROR);
  std::string_view bytes = ChunkOf(env, info[1], chunk_);
  bool end = info[2].ToBoolean();
  int code = connection->Write(bytes.data(), static_cast<int>(bytes.size()), false);
  if (!end) {
    if (code != 0) return Napi::Number::New(env, code);
    return Napi::Boolean::New(env, !connection->Send());
  }
  int exitStatus = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 0;
  requests_.erase(connection->serial);
  int endCode = connection->End(exitStatus);
  RequestEnded();
  if (code == 0) code = endCode;
  if (code != 0) return Napi::Number::New(env, code);
  return Napi::Boolean::New(env, true);
}

Napi::Value LoopServer::WriteStderr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Connection* connection = InFlight(info);
  if (connection == nullptr) return Napi::Number::New(env, FCGX_CALL_SEQ_ERROR);
  std::string_view bytes = ChunkOf(env, info[1], chunk_);
  int code = connection->Write(bytes.data(), static_cast<int>(bytes.size()), true);
  if (code != 0) return Napi::Number::New(env, code);
  return Napi::Boolean::New(env, !connection->Send());
}

Napi::Value LoopServer::StartData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Connection* connection = InFlight(info);
  if (connection == nullptr) return Napi::Number::New(env, FCGX_CALL_SEQ_ERROR);
  int code = connection->StartData();
  if (code == Connection::kLater) return env.Undefined();
  return Napi::Number::New(env, code);
}

}  // namespace fcgi
