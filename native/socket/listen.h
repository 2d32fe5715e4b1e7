// Opens the sockets an app listens on. Unlike libfcgi's FCGX_OpenSocket, which calls exit() when bind() fails, every
// failure here becomes an FcgiError with the errno name for the caller to catch.
#pragma once
#include <napi.h>

namespace fcgi {

// JS: listenTcp(host: string, port: number, backlog: number, reusePort = false) -> { fd, port }
Napi::Value ListenTcp(const Napi::CallbackInfo& info);
// JS: listenUnix(path: string, backlog: number, seqpacket = false) -> fd (SOCK_SEQPACKET: relays' control socket)
Napi::Value ListenUnix(const Napi::CallbackInfo& info);
// Whether fd is a socket in the listening state: a web server's fd 0 or a relay's socket, not a pipe, a terminal or a
// connection (mod_cgid's stdin), which all mean plain CGI.
bool IsListening(int fd);
// JS: isListeningSocket(fd) -> boolean (IsListening)
Napi::Value IsListeningSocket(const Napi::CallbackInfo& info);
// JS: unixSocketPath(fd) -> the path a Unix socket is bound to (getsockname), or null for another socket or none
Napi::Value UnixSocketPath(const Napi::CallbackInfo& info);
// JS: closeFd(fd)
void CloseFd(const Napi::CallbackInfo& info);

}  // namespace fcgi
