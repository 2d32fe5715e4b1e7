// libfcgi's OS_Read(), defined by the addon so that every read libfcgi makes goes through the record guard.
//
// libfcgi calls its exported OS_Read() through the PLT, and the dynamic linker resolves that call in the scope of the
// dlopen() that loaded the addon, where the addon comes before libfcgi: so this definition is the one libfcgi uses.
// It does what libfcgi's own does (a plain read) whenever no guard serves the calling thread.
#include <unistd.h>

#include "record_guard.h"

extern "C" __attribute__((visibility("default"))) int OS_Read(int fd, char* buffer, size_t length) {
  fcgi::RecordGuard* guard = fcgi::RecordGuard::Current();
  if (guard == nullptr) return static_cast<int>(read(fd, buffer, length));
  return static_cast<int>(guard->Read(fd, buffer, length));
}
