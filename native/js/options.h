// Copies a listener's JS options into the plain structs the C++ layer works with, so that no JS value is read later.
#pragma once
#include <napi.h>

#include "protocol/record_guard.h"

namespace fcgi {

// { maxParamsSize, headersTimeout, requestTimeout } -> GuardLimits; TypeScript has applied the defaults and validated.
GuardLimits GuardLimitsFrom(const Napi::Value& options, int maxConns);

}  // namespace fcgi
