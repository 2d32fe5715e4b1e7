// Opens the sockets an app listens on. Unlike libfcgi's FCGX_OpenSocket, which calls exit() when bind() fails, every
// failure here becomes an FcgiError with the errno name for the caller to catch.
#include "socket/listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include "js/errors.h"

namespace fcgi {

namespace {

// Closes fd without disturbing errno, so the caller can still report why the socket failed.
void CloseKeepingErrno(int fd) {
  int saved = errno;
  close(fd);
  errno = saved;
}

int BindAndListen(Napi::Env env, int family, const sockaddr* address, socklen_t length, int backlog,
                  int type = SOCK_STREAM, bool reusePort = false) {
  int fd = socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) throw MakeError(env, "socket", errno);
  if (family != AF_UNIX) {
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    // Each process of a cluster binds the port itself, and the kernel spreads new connections over them.
    if (reusePort && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) {
      CloseKeepingErrno(fd);
      throw MakeError(env, "setsockopt SO_REUSEPORT", errno);
    }
  }
  if (bind(fd, address, length) != 0) {
    CloseKeepingErrno(fd);
    throw MakeError(env, "bind", errno);
  }
  if (listen(fd, backlog) != 0) {
    CloseKeepingErrno(fd);
    throw MakeError(env, "listen", errno);
  }
  return fd;
}

}  // namespace

Napi::Value ListenTcp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) {
    ThrowTypeError(env, "listenTcp(host, port, backlog[, reusePort]) expects a string and two numbers");
  }
  bool reusePort = info.Length() > 3 && info[3].ToBoolean().Value();
  std::string host = info[0].As<Napi::String>().Utf8Value();
  int port = info[1].As<Napi::Number>().Int32Value();
  int backlog = info[2].As<Napi::Number>().Int32Value();

  sockaddr_storage storage{};
  socklen_t length;
  int family;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    family = v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    length = sizeof(*v4);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    length = sizeof(*v6);
  } else {
    throw MakeError(env, "inet_pton", EINVAL);
  }

  int fd = BindAndListen(env, family, reinterpret_cast<sockaddr*>(&storage), length, backlog, SOCK_STREAM, reusePort);
  // With port 0 the kernel picks the port: read it back so the caller can tell a web server where to connect.
  length = sizeof(storage);
  getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length);
  int boundPort = ntohs(family == AF_INET ? v4->sin_port : v6->sin6_port);

  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", fd);
  result.Set("port", boundPort);
  return result;
}

Napi::Value ListenUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsNumber())
    ThrowTypeError(env, "listenUnix(path, backlog[, seqpacket]) expects a string and a number");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int backlog = info[1].As<Napi::Number>().Int32Value();
  int type = info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value() ? SOCK_SEQPACKET : SOCK_STREAM;

  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) throw MakeError(env, "bind", ENAMETOOLONG);
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  int fd = BindAndListen(env, AF_UNIX, reinterpret_cast<sockaddr*>(&address), sizeof(address), backlog, type);
  return Napi::Number::New(env, fd);
}

bool IsListening(int fd) {
  // libfcgi's OS_IsFcgi asks getpeername() for ENOTCONN, which an unconnected socket that does not listen passes too.
  int listening = 0;
  socklen_t length = sizeof(listening);
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 && listening != 0;
}

Napi::Value IsListeningSocket(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), IsListening(info[0].As<Napi::Number>().Int32Value()));
}

Napi::Value UnixSocketPath(const Napi::CallbackInfo& info) {
  sockaddr_un address{};
  socklen_t length = sizeof(address);
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 || address.sun_family != AF_UNIX ||
      length <= offsetof(sockaddr_un, sun_path) || address.sun_path[0] == '\0') {
    return info.Env().Null();
  }
  size_t size = strnlen(address.sun_path, length - offsetof(sockaddr_un, sun_path));
  return Napi::String::New(info.Env(), address.sun_path, size);
}

void CloseFd(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (close(fd) != 0) throw MakeError(info.Env(), "close", errno);
}

}  // namespace fcgi
