// See param_copy.h. Strings cost far less to make than an array's elements set from C++ one by one, and JS splits
// them at each NUL (lib/request/packed-params.ts). The copy is made at once: libfcgi frees the parameters when the
// request finishes.
#include "params/param_copy.h"

#include <cstring>

#include "js/errors.h"
#include "params/param_names.h"

namespace fcgi {

void ParamCopy::SetEager(Napi::Env env, const Napi::Value& eager) {
  if (!eager.IsObject() || !eager.As<Napi::Object>().Get("names").IsArray() ||
      !eager.As<Napi::Object>().Get("prefix").IsString()) {
    ThrowTypeError(env, "eagerParams: { names: string[], prefix: string }");
  }
  Napi::Array names = eager.As<Napi::Object>().Get("names").As<Napi::Array>();
  eagerPrefix_ = eager.As<Napi::Object>().Get("prefix").As<Napi::String>().Utf8Value();
  eagerKnown_.assign(KnownParamCount(), 0);
  for (int known = 0; known < KnownParamCount(); known++) eagerKnown_[known] = IsEager(KnownParamName(known), -1);
  for (uint32_t i = 0; i < names.Length(); i++) {
    int known = KnownParamIndex(names.Get(i).As<Napi::String>().Utf8Value());
    if (known < 0) ThrowTypeError(env, "eagerParams: every name must be one of knownParamNames");
    eagerKnown_[known] = 1;
  }
}

bool ParamCopy::IsEager(std::string_view name, int known) const {
  if (known >= 0) return eagerKnown_[known] != 0;
  return !eagerPrefix_.empty() && name.substr(0, eagerPrefix_.size()) == eagerPrefix_;
}

void ParamCopy::Copy(napi_env env, char** envp, napi_value* eager, napi_value* rest) {
  eagerPairs_.clear();
  eagerKinds_.clear();
  restPairs_.clear();
  restKinds_.clear();
  for (char** pair = envp; *pair != nullptr; pair++) {
    const char* equals = std::strchr(*pair, '=');
    if (equals == nullptr) continue;
    std::string_view name(*pair, equals - *pair);
    int known = KnownParamIndex(name);
    bool eager = IsEager(name, known);
    std::string& pairs = eager ? eagerPairs_ : restPairs_;
    (eager ? eagerKinds_ : restKinds_).push_back(static_cast<char>(known < 0 ? 1 : 2 + known));
    if (known < 0) pairs.append(name);
    pairs.push_back('\0');
    pairs.append(equals + 1);
    pairs.push_back('\0');
  }
  eagerPairs_.append(eagerKinds_);
  restPairs_.append(restKinds_);
  napi_create_string_latin1(env, eagerPairs_.data(), eagerPairs_.size(), eager);
  napi_create_string_latin1(env, restPairs_.data(), restPairs_.size(), rest);
}

int ParamCopy::FactsOf(const FCGX_Request& request) {
  return request.role | (request.keepConnection != 0 ? 4 : 0) | (request.requestId << 3);
}

}  // namespace fcgi
