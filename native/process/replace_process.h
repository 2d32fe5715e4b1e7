// Replaces the process image in place (execve), for a restart that keeps the pid and the listening socket on fd 0:
// the web server that spawned the app (mod_fcgid, lighttpd, spawn-fcgi, H2O) still knows the process, and connections
// that arrive meanwhile wait in the socket's listen queue. Node 22.15 has process.execve; this serves every line alike.
#pragma once
#include <napi.h>

namespace fcgi {

// JS: replaceProcess(file, args, env), each string bytes as latin1 and env entries NAME=value: returns only on failure,
// by throwing an FcgiError (syscall 'execve'). Every fd above 2 is marked close-on-exec first, so nothing the old image
// opened leaks into the new one; fds 0 to 2 (the listening socket, stdout, stderr) are unmarked and go across.
void ReplaceProcess(const Napi::CallbackInfo& info);

}  // namespace fcgi
