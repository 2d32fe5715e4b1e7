// Lets the prebuilt binary load on glibc 2.28, though it is linked on a newer one (binding.gyp's libfcgi_static only).
//
// The static libstdc++ and libgcc, and a few of our own calls, refer to glibc symbols whose default version is newer
// than 2.28. The link redirects each such reference here with -Wl,--wrap=NAME, and __wrap_NAME either calls the same
// function at its old version (a .symver reference to the first version on the architecture: the pthread functions sat
// in libpthread.so.0 before 2.34, loaded in every Node process) or does without the newer call.
// scripts/build-prebuilt.sh fails if the binary still needs a version newer than GLIBC_2.28.
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define HIDDEN __attribute__((visibility("hidden")))

// pthread_* moved from libpthread into libc at 2.34, with new default versions. Their old versions are the oldest
// each architecture has: 2.2.5 (2.12 for pthread_setname_np) on x86-64, 2.17, its first glibc, on aarch64.
#if defined(__x86_64__)
#define OLD_VERSION "GLIBC_2.2.5"
#define SETNAME_VERSION "GLIBC_2.12"
#elif defined(__aarch64__)
#define OLD_VERSION "GLIBC_2.17"
#define SETNAME_VERSION "GLIBC_2.17"
#else
#error "glibc_compat.cc knows the old glibc symbol versions of x86-64 and aarch64 only"
#endif

extern "C" {
int pthread_create_old(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
int pthread_join_old(pthread_t, void**);
int pthread_detach_old(pthread_t);
int pthread_once_old(pthread_once_t*, void (*)());
int pthread_key_create_old(pthread_key_t*, void (*)(void*));
int pthread_setname_np_old(pthread_t, const char*);
}
__asm__(".symver pthread_create_old, pthread_create@" OLD_VERSION);
__asm__(".symver pthread_join_old, pthread_join@" OLD_VERSION);
__asm__(".symver pthread_detach_old, pthread_detach@" OLD_VERSION);
__asm__(".symver pthread_once_old, pthread_once@" OLD_VERSION);
__asm__(".symver pthread_key_create_old, __pthread_key_create@" OLD_VERSION);
__asm__(".symver pthread_setname_np_old, pthread_setname_np@" SETNAME_VERSION);

extern "C" {

HIDDEN int __wrap_pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* arg) {
  return pthread_create_old(thread, attr, start, arg);
}
HIDDEN int __wrap_pthread_join(pthread_t thread, void** result) { return pthread_join_old(thread, result); }
HIDDEN int __wrap_pthread_detach(pthread_t thread) { return pthread_detach_old(thread); }
HIDDEN int __wrap_pthread_once(pthread_once_t* once, void (*init)()) { return pthread_once_old(once, init); }
HIDDEN int __wrap_pthread_setname_np(pthread_t thread, const char* name) {
  return pthread_setname_np_old(thread, name);
}
HIDDEN int __wrap___pthread_key_create(pthread_key_t* key, void (*destructor)(void*)) {
  return pthread_key_create_old(key, destructor);
}

// 2.32: libstdc++ skips atomic reference counts while the process has one thread. Always saying "several" is
// correct everywhere, only a little slower in a single-threaded process.
HIDDEN char __wrap___libc_single_threaded = 0;

// 2.36: std::random_device's default source, linked in with libstdc++'s strings though the addon never uses it.
HIDDEN uint32_t __wrap_arc4random() {
  uint32_t value = 0;
  if (getentropy(&value, sizeof(value)) != 0) abort();
  return value;
}

// 2.32: errno names for FcgiError codes (native/js/errors.cc). libuv, which Node exports, knows the same names; for a
// code it does not know, the caller gets nullptr as from glibc.
HIDDEN const char* __wrap_strerrorname_np(int code) {
  char buffer[64];
  uv_err_name_r(-code, buffer, sizeof(buffer));
  if (strncmp(buffer, "Unknown", 7) == 0) return nullptr;
  return uv_err_name(-code);
}

// 2.35: libgcc's unwinder finds the frame tables of the code an exception passes through with _dl_find_object, and
// has no fallback once built with it. The same answer from dl_iterate_phdr (2.2.4), as the unwinder found it before:
// the loaded object whose segments contain pc, and its PT_GNU_EH_FRAME.
struct FindObject {
  uintptr_t pc;
  dl_find_object* result;
  bool found;
};

static int FindObjectIn(dl_phdr_info* info, size_t, void* data) {
  FindObject* find = static_cast<FindObject*>(data);
  uintptr_t start = UINTPTR_MAX, end = 0;
  bool contains = false;
  const ElfW(Phdr)* ehFrame = nullptr;
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& segment = info->dlpi_phdr[i];
    if (segment.p_type == PT_GNU_EH_FRAME) ehFrame = &segment;
    if (segment.p_type != PT_LOAD) continue;
    uintptr_t from = info->dlpi_addr + segment.p_vaddr, to = from + segment.p_memsz;
    if (from < start) start = from;
    if (to > end) end = to;
    if (find->pc >= from && find->pc < to) contains = true;
  }
  if (!contains) return 0;
  memset(find->result, 0, sizeof(*find->result));
  find->result->dlfo_map_start = reinterpret_cast<void*>(start);
  find->result->dlfo_map_end = reinterpret_cast<void*>(end);
  if (ehFrame != nullptr) find->result->dlfo_eh_frame = reinterpret_cast<void*>(info->dlpi_addr + ehFrame->p_vaddr);
  find->found = true;
  return 1;
}

HIDDEN int __wrap__dl_find_object(void* pc, dl_find_object* result) {
  FindObject find = {reinterpret_cast<uintptr_t>(pc), result, false};
  dl_iterate_phdr(FindObjectIn, &find);
  return find.found ? 0 : -1;
}

}  // extern "C"
