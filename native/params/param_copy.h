// One copy of a request's parameters into JS, for both loops: two latin1 strings, the eager parameters (what the HTTP
// layer reads for every request) and the rest (split only if the app asks for every parameter), packed as
// lib/request/packed-params.ts reads them. JS says which parameters are eager.
#pragma once
#include <fcgiapp.h>
#include <napi.h>

#include <string>
#include <string_view>
#include <vector>

namespace fcgi {

class ParamCopy {
 public:
  // eager: { names, prefix } from JS (lib/cgi/cgi-head.ts eagerParams): names that must each be one of
  // knownParamNames, and a prefix that puts any name in the head ("HTTP_", the header lines). Throws a TypeError.
  void SetEager(Napi::Env env, const Napi::Value& eager);

  // Each string: name NUL value NUL for each parameter, a known name left empty, then one character per parameter
  // saying whose name it is (1: its own; 2 + n: known name n, see param_names.h). The kinds go last so that each
  // string is written once, front to back. libfcgi keeps each parameter as a C string "NAME=VALUE", so neither holds a
  // NUL; the name ends at the first '='.
  void Copy(napi_env env, char** envp, napi_value* eager, napi_value* rest);

  // A request's facts in one number: role (1 to 3) in the low two bits, keepConnection in the third, the id above.
  static int FactsOf(const FCGX_Request& request);

 private:
  bool IsEager(std::string_view name, int known) const;

  std::vector<char> eagerKnown_;  // by known name number
  std::string eagerPrefix_;
  std::string eagerPairs_, eagerKinds_, restPairs_, restKinds_;  // reused from request to request
};

}  // namespace fcgi
