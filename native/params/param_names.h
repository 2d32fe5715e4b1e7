// The parameter names web servers send with nearly every request, numbered. The addon hands a request's parameters to
// JS as one string, in which a known name travels as its number: JS then uses a string it made once (already hashed,
// already internalized) instead of cutting a new one out of every request and hashing it again.
#pragma once
#include <napi.h>

#include <string_view>

namespace fcgi {

// The number of a known name, or -1.
int KnownParamIndex(std::string_view name);

// How many names are known, and the name of a number below that.
int KnownParamCount();
std::string_view KnownParamName(int index);

// The known names, in their numbered order, for JS (lib/addon/native.ts exposes them as knownParamNames).
Napi::Array KnownParamNames(Napi::Env env);

}  // namespace fcgi
