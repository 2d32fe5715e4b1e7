// See param_names.h. The list: what nginx's fastcgi_params, Apache's mod_fcgid and proxy_fcgi, lighttpd and Caddy send
// for every request, and the request headers browsers and proxies send most.
#include "params/param_names.h"

#include <array>
#include <cstdint>
#include <iterator>

namespace fcgi {

namespace {

// string_views, so that comparing a name with one tests the lengths first and never runs strlen.
constexpr std::string_view kKnownNames[] = {
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

// Open addressing over a hash of the length and three characters: every request looks up each of its names (some
// twenty), and hashing whole names into std::unordered_map's buckets cost more than all the rest of the request's
// native work. The table is a quarter full, so a lookup is one or two probes and one memcmp.
class KnownNameTable {
 public:
  KnownNameTable() {
    slots_.fill(-1);
    for (int i = 0; i < static_cast<int>(std::size(kKnownNames)); i++) {
      size_t slot = Hash(kKnownNames[i]);
      while (slots_[slot] >= 0) slot = (slot + 1) % kSlots;
      slots_[slot] = static_cast<int16_t>(i);
    }
  }

  int Find(std::string_view name) const {
    if (name.empty()) return -1;
    for (size_t slot = Hash(name);; slot = (slot + 1) % kSlots) {
      int index = slots_[slot];
      if (index < 0 || name == kKnownNames[index]) return index;
    }
  }

 private:
  static constexpr size_t kSlots = 256;
  static_assert(std::size(kKnownNames) < kSlots / 2, "the table must stay sparse for short probes");

  static size_t Hash(std::string_view name) {
    auto at = [&](size_t i) { return static_cast<size_t>(static_cast<unsigned char>(name[i])); };
    size_t size = name.size();
    return (size * 131 + at(size - 1) * 31 + at(size / 2) * 7 + at(size > 1 ? size - 2 : 0)) % kSlots;
  }

  std::array<int16_t, kSlots> slots_{};
};

}  // namespace

int KnownParamIndex(std::string_view name) {
  static const KnownNameTable table;
  return table.Find(name);
}

int KnownParamCount() { return static_cast<int>(std::size(kKnownNames)); }

std::string_view KnownParamName(int index) { return kKnownNames[index]; }

Napi::Array KnownParamNames(Napi::Env env) {
  Napi::Array names = Napi::Array::New(env, std::size(kKnownNames));
  for (uint32_t i = 0; i < std::size(kKnownNames); i++) {
    names.Set(i, Napi::String::New(env, kKnownNames[i].data(), kKnownNames[i].size()));
  }
  return names;
}

}  // namespace fcgi
