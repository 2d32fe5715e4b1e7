// See param_copy.h. Strings cost far less to make than an array's elements set from C++ one by one, and JS splits
// them at each NUL (lib/request/packed-params.ts). The copy is made at once: libfcgi frees the parameters when the
// request finishes.
#include "params/param_copy.h"

#include <cstring>

#include "js/errors.h"
#include "params/param_names.h"

namespace fcgi {

void ParamCopy::SetHead(Napi::Env env, const Napi::Value& head) {
  if (!head.IsObject() || !head.As<Napi::Object>().Get("names").IsArray() ||
      !head.As<Napi::Object>().Get("prefix").IsString()) {
    ThrowTypeError(env, "head: { names: string[], prefix: string }");
  }
  Napi::Array headNames = head.As<Napi::Object>().Get("names").As<Napi::Array>();
  std::string headPrefix = head.As<Napi::Object>().Get("prefix").As<Napi::String>().Utf8Value();
  headPrefix_ = headPrefix;
  headKnown_.assign(KnownParamCount(), 0);
  for (int known = 0; known < KnownParamCount(); known++) headKnown_[known] = InHead(KnownParamName(known), -1);
  for (uint32_t i = 0; i < headNames.Length(); i++) {
    int known = KnownParamIndex(headNames.Get(i).As<Napi::String>().Utf8Value());
    if (known < 0) ThrowTypeError(env, "headParams: every name must be one of knownParamNames");
    headKnown_[known] = 1;
  }
}

bool ParamCopy::InHead(std::string_view name, int known) const {
  if (known >= 0) return headKnown_[known] != 0;
  return !headPrefix_.empty() && name.substr(0, headPrefix_.size()) == headPrefix_;
}

void ParamCopy::Copy(napi_env env, char** envp, napi_value* head, napi_value* rest) {
  headPairs_.clear();
  headKinds_.clear();
  restPairs_.clear();
  restKinds_.clear();
  for (char** pair = envp; *pair != nullptr; pair++) {
    const char* equals = std::strchr(*pair, '=');
    if (equals == nullptr) continue;
    std::string_view name(*pair, equals - *pair);
    int known = KnownParamIndex(name);
    bool inHead = InHead(name, known);
    std::string& pairs = inHead ? headPairs_ : restPairs_;
    (inHead ? headKinds_ : restKinds_).push_back(static_cast<char>(known < 0 ? 1 : 2 + known));
    if (known < 0) pairs.append(name);
    pairs.push_back('\0');
    pairs.append(equals + 1);
    pairs.push_back('\0');
  }
  headPairs_.append(headKinds_);
  restPairs_.append(restKinds_);
  napi_create_string_latin1(env, headPairs_.data(), headPairs_.size(), head);
  napi_create_string_latin1(env, restPairs_.data(), restPairs_.size(), rest);
}

int ParamCopy::FactsOf(const FCGX_Request& request) {
  return request.role | (request.keepConnection != 0 ? 4 : 0) | (request.requestId << 3);
}

}  // namespace fcgi
