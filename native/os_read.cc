// libfcgi's OS_Read(), routed through the record guard so that every read libfcgi makes goes through it.
//
// Two builds, two ways in:
// - Against a shared libfcgi (the system's, or one under LIBFCGI_PREFIX), the addon defines OS_Read() itself.
//   libfcgi calls its exported OS_Read() through the PLT, and the dynamic linker resolves that call in the scope of
//   the dlopen() that loaded the addon, where the addon comes before libfcgi: so this definition is the one libfcgi
//   uses. Linking with --wrap would not help there: it only rewrites references in the objects being linked, and
//   libfcgi's call is inside libfcgi.so.
// - Against the static PIC libfcgi.a of the prebuilt binary (binding.gyp's libfcgi_static), libfcgi's own OS_Read()
//   is linked in, so a second definition would clash. There the link uses -Wl,--wrap=OS_Read: libfcgi's call in
//   fcgiapp.o becomes a call to __wrap_OS_Read(), and __real_OS_Read() is libfcgi's own.
// Either way, it does what libfcgi's own does whenever no guard serves the calling thread.
#include <unistd.h>

#include "record_guard.h"

#ifdef LIBFCGI_WRAP_OS_READ
extern "C" int __real_OS_Read(int fd, char* buffer, size_t length);

extern "C" int __wrap_OS_Read(int fd, char* buffer, size_t length) {
  fcgi::RecordGuard* guard = fcgi::RecordGuard::Current();
  if (guard == nullptr) return __real_OS_Read(fd, buffer, length);
  return static_cast<int>(guard->Read(fd, buffer, length));
}
#else
extern "C" __attribute__((visibility("default"))) int OS_Read(int fd, char* buffer, size_t length) {
  fcgi::RecordGuard* guard = fcgi::RecordGuard::Current();
  if (guard == nullptr) return static_cast<int>(read(fd, buffer, length));
  return static_cast<int>(guard->Read(fd, buffer, length));
}
#endif
