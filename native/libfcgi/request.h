// What both serving modes do around a libfcgi request: read the error its stream recorded, and give back the memory
// its body used.
#pragma once
#include <fcgiapp.h>

namespace fcgi {

// The error a libfcgi stream recorded, as the addon's result code (EIO when it recorded none).
int StreamError(FCGX_Stream* stream);

// Hands freed pages back to the system at most once a second, after a request (request.cc says why).
void ReturnFreedMemory();

}  // namespace fcgi
