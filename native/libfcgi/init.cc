// Initialises libfcgi without letting it take over the signals that Node.js owns.
#include "libfcgi/init.h"

#include <fcgiapp.h>
#include <signal.h>

#include <cerrno>
#include <mutex>

namespace fcgi {

namespace {
constexpr int kSignalsLibfcgiTakes[] = {SIGPIPE, SIGUSR1, SIGTERM};
std::once_flag initOnce;
int initResult = 0;
}  // namespace

int InitLibfcgiKeepingSignals() {
  std::call_once(initOnce, [] {
    constexpr size_t count = sizeof(kSignalsLibfcgiTakes) / sizeof(kSignalsLibfcgiTakes[0]);
    struct sigaction saved[count];
    for (size_t i = 0; i < count; i++) sigaction(kSignalsLibfcgiTakes[i], nullptr, &saved[i]);
    int rc = FCGX_Init();
    for (size_t i = 0; i < count; i++) sigaction(kSignalsLibfcgiTakes[i], &saved[i], nullptr);
    // FCGX_Init returns an errno value, or -9997 when the OS layer failed without one.
    initResult = rc == 0 ? 0 : (rc > 0 ? rc : EIO);
  });
  return initResult;
}

}  // namespace fcgi
