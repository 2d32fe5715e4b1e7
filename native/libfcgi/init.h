// Initialises libfcgi without letting it take over the signals that Node.js owns.
#pragma once

namespace fcgi {

// Runs FCGX_Init once per process. libfcgi's OS_LibInit installs handlers for SIGPIPE, SIGUSR1 and SIGTERM that only
// set a flag nobody reads under Node; this puts back whatever dispositions the process had before. Returns a result
// code (0 on success).
int InitLibfcgiKeepingSignals();

}  // namespace fcgi
