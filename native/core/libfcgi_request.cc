// What both serving modes do around a libfcgi request. See libfcgi_request.h.
#include "core/libfcgi_request.h"

#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>

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
  static std::atomic<int64_t> lastMs{0};
  constexpr int64_t kIntervalMs = 1000;
  auto sinceEpoch = std::chrono::steady_clock::now().time_since_epoch();
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(sinceEpoch).count();
  int64_t last = lastMs.load(std::memory_order_relaxed);
  if (now - last < kIntervalMs || !lastMs.compare_exchange_strong(last, now)) return;
  malloc_trim(0);
}

}  // namespace fcgi
