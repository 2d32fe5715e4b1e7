// Graceful SIGTERM for the synchronous accept loop (see stop_signal.h).
#include "accept_loop/stop_signal.h"

#include <signal.h>
#include <sys/time.h>

#include <atomic>

namespace fcgi {

namespace {

std::atomic<bool> stopRequested{false};
int graceMsForHandler = 0;

void OnStopSignal(int) {
  if (stopRequested.exchange(true)) {
    signal(SIGTERM, SIG_DFL);  // a second SIGTERM: end now, as if nobody had handled the first
    raise(SIGTERM);
    return;
  }
  if (graceMsForHandler > 0) {
    itimerval grace{};
    grace.it_value.tv_sec = graceMsForHandler / 1000;
    grace.it_value.tv_usec = (graceMsForHandler % 1000) * 1000;
    setitimer(ITIMER_REAL, &grace, nullptr);  // SIGALRM's default action ends the process
  }
}

}  // namespace

void WatchStopSignal(int graceMs) {
  graceMsForHandler = graceMs;
  struct sigaction ours {};
  ours.sa_handler = OnStopSignal;
  sigemptyset(&ours.sa_mask);
  ours.sa_flags = 0;  // no SA_RESTART: the wait in poll() must return EINTR and look at the flag
  sigaction(SIGTERM, &ours, nullptr);
}

bool StopRequested() { return stopRequested.load(); }

void WatchStopSignalJs(const Napi::CallbackInfo& info) {
  WatchStopSignal(info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0);
}

}  // namespace fcgi
