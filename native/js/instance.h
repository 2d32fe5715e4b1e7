// Per-environment state of the addon (one per Node.js thread that loads it).
#pragma once
#include <napi.h>

namespace fcgi {

struct InstanceData {
  Napi::FunctionReference errorClass;  // lib/addon/errors.ts FcgiError
};

}  // namespace fcgi
