// execve for restarting in place (see replace_process.h).
#include "process/replace_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "js/errors.h"

namespace fcgi {

namespace {

// Sockets, files and pipes that the old image opened without O_CLOEXEC (most of Node's have it) would otherwise stay
// open, unused, in every later image. Node marks fds 0 to 2 close-on-exec at start-up (its child processes get their
// stdio by dup2), so they are cleared here: the listening socket and the logs must go across.
void KeepOnlyStdioAcrossExec() {
  DIR* fds = opendir("/proc/self/fd");
  if (fds == nullptr) return;
  int listing = dirfd(fds);
  while (dirent* entry = readdir(fds)) {
    char* end = nullptr;
    long fd = strtol(entry->d_name, &end, 10);
    if (*end != '\0' || fd == listing) continue;
    int flags = fcntl(static_cast<int>(fd), F_GETFD);
    if (flags < 0) continue;
    fcntl(static_cast<int>(fd), F_SETFD, fd <= 2 ? flags & ~FD_CLOEXEC : flags | FD_CLOEXEC);
  }
  closedir(fds);
}

// Each string is bytes, one char per byte (latin1), as the addon passes parameters: paths and environment values
// need not be UTF-8.
std::string Latin1(Napi::Env env, napi_value value) {
  size_t length = 0;
  napi_get_value_string_latin1(env, value, nullptr, 0, &length);
  std::string bytes(length + 1, '\0');
  napi_get_value_string_latin1(env, value, bytes.data(), bytes.size(), &length);
  bytes.resize(length);
  return bytes;
}

std::vector<std::string> Strings(const Napi::Array& array) {
  std::vector<std::string> strings;
  for (uint32_t i = 0; i < array.Length(); i++) strings.push_back(Latin1(array.Env(), array.Get(i)));
  return strings;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

void ReplaceProcess(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsArray() || !info[2].IsArray()) {
    throw Napi::TypeError::New(env, "replaceProcess(file, args, env)");
  }
  std::string file = Latin1(env, info[0]);
  std::vector<std::string> args = Strings(info[1].As<Napi::Array>());
  std::vector<std::string> environment = Strings(info[2].As<Napi::Array>());
  std::vector<char*> argv = Pointers(args);
  std::vector<char*> envp = Pointers(environment);
  KeepOnlyStdioAcrossExec();
  execve(file.c_str(), argv.data(), envp.data());
  throw MakeError(env, "execve", errno);
}

}  // namespace fcgi
