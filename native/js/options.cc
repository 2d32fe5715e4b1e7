// Copies a listener's JS options into the plain structs the C++ layer works with, before any work leaves the JS thread.
#include "js/options.h"

#include "js/errors.h"

namespace fcgi {

namespace {

double NumberAt(const Napi::Object& options, const char* name) {
  Napi::Value value = options.Get(name);
  if (!value.IsNumber())
    ThrowTypeError(options.Env(), "limits need numeric maxParamsSize, headersTimeout, requestTimeout");
  return value.As<Napi::Number>().DoubleValue();
}

}  // namespace

GuardLimits GuardLimitsFrom(const Napi::Value& options, int maxConns) {
  if (!options.IsObject()) ThrowTypeError(options.Env(), "limits must be an object");
  Napi::Object object = options.As<Napi::Object>();
  GuardLimits limits;
  limits.maxParamsSize = static_cast<size_t>(NumberAt(object, "maxParamsSize"));
  limits.headersTimeoutMs = static_cast<int>(NumberAt(object, "headersTimeout"));
  limits.requestTimeoutMs = static_cast<int>(NumberAt(object, "requestTimeout"));
  limits.maxConns = maxConns;
  return limits;
}

}  // namespace fcgi
