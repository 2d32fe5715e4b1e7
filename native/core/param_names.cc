// See param_names.h. The list: what nginx's fastcgi_params, Apache's mod_fcgid and proxy_fcgi, lighttpd and Caddy send
// for every request, and the request headers browsers and proxies send most.
#include "core/param_names.h"

#include <string>
#include <unordered_map>

namespace fcgi {

namespace {

constexpr const char* kKnownNames[] = {
    // CGI/1.1 and the common server additions
    "GATEWAY_INTERFACE",
    "SERVER_SOFTWARE",
    "SERVER_NAME",
    "SERVER_ADDR",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SERVER_ADMIN",
    "SERVER_SIGNATURE",
    "REQUEST_METHOD",
    "REQUEST_URI",
    "REQUEST_SCHEME",
    "QUERY_STRING",
    "SCRIPT_NAME",
    "SCRIPT_FILENAME",
    "SCRIPT_URI",
    "SCRIPT_URL",
    "PATH_INFO",
    "PATH_TRANSLATED",
    "DOCUMENT_ROOT",
    "DOCUMENT_URI",
    "CONTEXT_PREFIX",
    "CONTEXT_DOCUMENT_ROOT",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "REMOTE_HOST",
    "REMOTE_USER",
    "AUTH_TYPE",
    "HTTPS",
    "REDIRECT_STATUS",
    "FCGI_ROLE",
    "PATH",
    "UNIQUE_ID",
    "REQUEST_TIME",
    "REQUEST_TIME_FLOAT",
    // request headers
    "HTTP_HOST",
    "HTTP_USER_AGENT",
    "HTTP_ACCEPT",
    "HTTP_ACCEPT_ENCODING",
    "HTTP_ACCEPT_LANGUAGE",
    "HTTP_CONNECTION",
    "HTTP_COOKIE",
    "HTTP_REFERER",
    "HTTP_ORIGIN",
    "HTTP_AUTHORIZATION",
    "HTTP_CACHE_CONTROL",
    "HTTP_PRAGMA",
    "HTTP_UPGRADE_INSECURE_REQUESTS",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_REAL_IP",
    "HTTP_X_REQUESTED_WITH",
    "HTTP_DNT",
    "HTTP_SEC_FETCH_DEST",
    "HTTP_SEC_FETCH_MODE",
    "HTTP_SEC_FETCH_SITE",
    "HTTP_SEC_FETCH_USER",
    "HTTP_SEC_CH_UA",
    "HTTP_SEC_CH_UA_MOBILE",
    "HTTP_SEC_CH_UA_PLATFORM",
    "HTTP_PRIORITY",
    "HTTP_TE",
    "HTTP_EXPECT",
    "HTTP_RANGE",
};

}  // namespace

int KnownParamIndex(std::string_view name) {
  static const std::unordered_map<std::string_view, int> byName = [] {
    std::unordered_map<std::string_view, int> map;
    for (int i = 0; i < static_cast<int>(std::size(kKnownNames)); i++) map.emplace(kKnownNames[i], i);
    return map;
  }();
  auto found = byName.find(name);
  return found == byName.end() ? -1 : found->second;
}

Napi::Array KnownParamNames(Napi::Env env) {
  Napi::Array names = Napi::Array::New(env, std::size(kKnownNames));
  for (uint32_t i = 0; i < std::size(kKnownNames); i++) names.Set(i, Napi::String::New(env, kKnownNames[i]));
  return names;
}

}  // namespace fcgi
