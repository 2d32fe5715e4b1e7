// Graceful SIGTERM for the synchronous accept loop. Its JS thread never returns to the event loop, so a
// process.on('SIGTERM') listener would never run; instead the addon notes the signal itself and the loop's waits
// (waits.h WaitToServe) end, after the request in flight has finished.
#pragma once
#include <napi.h>

namespace fcgi {

// Takes SIGTERM, replacing Node's own handler (which only exits): the first one asks the loop to stop and arms a
// grace period (graceMs; 0 for none) after which SIGALRM ends the process; a second SIGTERM ends it at once. The
// caller makes sure no JS listener wants SIGTERM; one added later takes it back, as libuv installs its own handler.
void WatchStopSignal(int graceMs);

bool StopRequested();

// JS: watchStopSignal(graceMs)
void WatchStopSignalJs(const Napi::CallbackInfo& info);

}  // namespace fcgi
