// The synchronous loop's waits: for a connection on the listening socket, in place of libfcgi's OS_Accept, and for the
// next request on a kept connection. They wait with poll() (a listening fd that libuv made non-blocking makes accept()
// fail with EAGAIN), never select() (which breaks on fds above 1023), and end on SIGTERM, idleness or the parent's
// death.
#pragma once
#include <sys/types.h>

#include <cstddef>

#include "socket/admission.h"

namespace fcgi {

// When the synchronous loop stops waiting for work instead of serving it.
struct StopWhen {
  int idleMs = 0;     // nothing to serve for this long (0: never)
  int parentPid = 0;  // the process's parent is no longer this one: the web server that spawned it died (0: never)
};

// Waits until fd is readable (for a listening socket: a connection is pending). Returns 0, or a negative code when
// the wait ends otherwise: -ETIMEDOUT (idle), -ESRCH (parent gone), -ECANCELED (SIGTERM, see stop_signal.h), or
// another -errno.
int WaitToServe(int fd, const StopWhen& stop);

// Waits as WaitToServe does on a connection, but receives its first bytes rather than only waiting for them: one
// blocking recv() where poll() then recv() would take two system calls for each request on a kept connection. Returns
// the count received, 0 when the connection ended (closed or broken), or a negative code as WaitToServe.
// *receiveTimeoutMs is the SO_RCVTIMEO the connection has now (0 for none, as a new connection has); it is updated when
// the wait sets another.
ssize_t ReceiveToServe(int fd, char* buffer, size_t length, const StopWhen& stop, int* receiveTimeoutMs);

// Blocks until a connection from an allowed peer arrives. Returns its fd, or a negative code (see WaitToServe).
int AcceptConnection(int listenFd, const AllowList& allow, const StopWhen& stop = StopWhen());

}  // namespace fcgi
