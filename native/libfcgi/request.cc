// What both serving modes do around a libfcgi request. See request.h.
#include "libfcgi/request.h"

#include <malloc.h>

#include <cerrno>
#include <chrono>

namespace fcgi {

int StreamError(FCGX_Stream* stream) {
  int code = FCGX_GetError(stream);
  return code != 0 ? code : EIO;
}

// glibc keeps the memory of freed large buffers (request and response bodies) for reuse: once a multi-megabyte body
// has been freed its dynamic mmap threshold rises, later bodies come from the arenas, and their free pages stay
// resident. A fault soak grew from 80 to 220 MB that way with a live JS heap of 5 MB. Handing free pages back at most
// once a second, after a request, keeps the resident size near what is in use, off the hot path.
void ReturnFreedMemory() {
  // Both serving modes run on the JS thread, so a plain static suffices.
  static std::chrono::steady_clock::time_point last;
  auto now = std::chrono::steady_clock::now();
  if (now - last < std::chrono::seconds(1)) return;
  last = now;
  malloc_trim(0);
}

}  // namespace fcgi
