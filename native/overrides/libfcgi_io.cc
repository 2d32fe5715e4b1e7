// libfcgi's OS_Read(), OS_Write() and OS_IpcClose(), routed to the addon: to the event loop's Connection that is
// current (libfcgi then never touches a socket), else to the synchronous loop's blocking reader (reads only), else
// to what libfcgi's own do.
//
// Two builds, two ways in:
// - Against a shared libfcgi (the system's, or one under LIBFCGI_PREFIX), the addon defines the functions itself.
//   libfcgi calls its exported OS_* functions through the PLT, and the dynamic linker resolves those calls in the scope
//   of the dlopen() that loaded the addon, where the addon comes before libfcgi: so these definitions are the ones
//   libfcgi uses. Linking with --wrap would not help there: it only rewrites references in the objects being linked,
//   and libfcgi's calls are inside libfcgi.so.
// - Against the static PIC libfcgi.a of the prebuilt binary (binding.gyp's libfcgi_static), libfcgi's own functions
//   are linked in, so second definitions would clash. There the link uses -Wl,--wrap=OS_Read (and OS_Write,
//   OS_IpcClose): libfcgi's calls in fcgiapp.o become calls to __wrap_OS_*(), and __real_OS_*() are libfcgi's own.
#include <unistd.h>

#include "accept_loop/blocking_reader.h"
#include "event_loop/connection.h"

namespace {

int ReadRouted(int fd, char* buffer, size_t length, int (*plain)(int, char*, size_t)) {
  if (fcgi::Connection* connection = fcgi::Connection::Current()) return connection->ReadForLibfcgi(buffer, length);
  if (fcgi::BlockingReader* reader = fcgi::BlockingReader::Current()) {
    return static_cast<int>(reader->Read(fd, buffer, length));
  }
  return plain(fd, buffer, length);
}

int WriteRouted(int fd, char* buffer, size_t length, int (*plain)(int, char*, size_t)) {
  if (fcgi::Connection* connection = fcgi::Connection::Current()) return connection->WriteForLibfcgi(buffer, length);
  return plain(fd, buffer, length);
}

int CloseRouted(int fd, int shutdown, int (*plain)(int, int)) {
  if (fcgi::Connection* connection = fcgi::Connection::Current()) {
    connection->CloseForLibfcgi();  // the connection closes its socket when its request is done
    return 0;
  }
  return plain(fd, shutdown);
}

}  // namespace

#ifdef LIBFCGI_WRAP_OS_READ
extern "C" int __real_OS_Read(int fd, char* buffer, size_t length);
extern "C" int __real_OS_Write(int fd, char* buffer, size_t length);
extern "C" int __real_OS_IpcClose(int fd, int shutdown);

extern "C" int __wrap_OS_Read(int fd, char* buffer, size_t length) {
  return ReadRouted(fd, buffer, length, __real_OS_Read);
}
extern "C" int __wrap_OS_Write(int fd, char* buffer, size_t length) {
  return WriteRouted(fd, buffer, length, __real_OS_Write);
}
extern "C" int __wrap_OS_IpcClose(int fd, int shutdown) { return CloseRouted(fd, shutdown, __real_OS_IpcClose); }
#else
// What libfcgi's own do, for calls that are not the addon's (OS_IpcClose is libfcgi's exported OS_Close).
extern "C" int OS_Close(int fd, int shutdown);
static int PlainRead(int fd, char* buffer, size_t length) { return static_cast<int>(read(fd, buffer, length)); }
static int PlainWrite(int fd, char* buffer, size_t length) { return static_cast<int>(write(fd, buffer, length)); }

extern "C" __attribute__((visibility("default"))) int OS_Read(int fd, char* buffer, size_t length) {
  return ReadRouted(fd, buffer, length, PlainRead);
}
extern "C" __attribute__((visibility("default"))) int OS_Write(int fd, char* buffer, size_t length) {
  return WriteRouted(fd, buffer, length, PlainWrite);
}
extern "C" __attribute__((visibility("default"))) int OS_IpcClose(int fd, int shutdown) {
  return CloseRouted(fd, shutdown, OS_Close);
}
#endif
