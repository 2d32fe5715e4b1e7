// The relay's reading of its launcher: its path, and its preamble, the first lines, where `// relay-node: ...`,
// `// relay-socket: ...` and `// relay-log: ...` name node, the control socket and the app log. Only static buffers:
// the relay allocates nothing after start.
#define _GNU_SOURCE
#include "launcher.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

char* nodeArgs[MAX_NODE_ARGS + 2];
char controlPath[sizeof(((struct sockaddr_un*)0)->sun_path)];
char lockPath[sizeof(controlPath) + 16];
char pidPath[sizeof(controlPath) + 16];
char proxyFlagPath[sizeof(controlPath) + 32];
const char* launcherPath;
char launcherAbsolute[4096];
char logPath[sizeof(controlPath) + 64];

// Takes the launcher's path as given (argv's last) and makes it absolute from the working directory.
void setLauncherPath(const char* launcher) {
  launcherPath = launcher;
  char cwd[2048];
  const char* relative = strncmp(launcher, "./", 2) == 0 ? launcher + 2 : launcher;
  if (launcher[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL) {
    snprintf(launcherAbsolute, sizeof(launcherAbsolute), "%s", launcher);
  } else {
    snprintf(launcherAbsolute, sizeof(launcherAbsolute), "%s/%s", cwd, relative);
  }
}

// Splits "node [options]" at spaces into nodeArgs, then the launcher. Returns 0, or -1 for none or too many.
int parseCommand(char* command, char* launcher) {
  int count = 0;
  for (char* word = strtok(command, " \t"); word != NULL; word = strtok(NULL, " \t")) {
    if (count == MAX_NODE_ARGS) return -1;
    nodeArgs[count++] = word;
  }
  if (count == 0) return -1;
  nodeArgs[count++] = launcher;
  nodeArgs[count] = NULL;
  return 0;
}

// The launcher's preamble: its first lines, where its relay-node and relay-socket lines are.
static char preamble[4096];

void readPreamble(const char* launcher) {
  int fd = open(launcher, O_RDONLY | O_CLOEXEC);
  ssize_t length = fd < 0 ? -1 : read(fd, preamble, sizeof(preamble) - 1);
  if (fd >= 0) close(fd);
  preamble[length > 0 ? length : 0] = '\0';
}

// Copies the value of the launcher's `// NAME: value` line into value (of size bytes). Returns value, or NULL.
char* preambleLine(const char* name, char* value, size_t size) {
  size_t nameLength = strlen(name);
  for (const char* line = preamble; line != NULL && *line != '\0'; line = strchr(line, '\n')) {
    if (*line == '\n') line++;
    if (strncmp(line, "// ", 3) != 0 || strncmp(line + 3, name, nameLength) != 0 ||
        strncmp(line + 3 + nameLength, ": ", 2) != 0)
      continue;
    const char* start = line + 3 + nameLength + 2;
    size_t length = strcspn(start, "\r\n");
    if (length >= size) return NULL;
    memcpy(value, start, length);
    value[length] = '\0';
    return value;
  }
  return NULL;
}

// Takes the control socket's path, and the paths init puts beside it: the lock, node.pid, the flag of the web
// server's direct path, and the app log when the launcher has no relay-log line (so its line is read first).
// Returns 0, or -1 when it is missing, relative or too long.
int setControlPath(const char* path) {
  size_t size = strlen(path);
  if (size == 0 || size >= sizeof(controlPath) || path[0] != '/') return -1;
  memcpy(controlPath, path, size + 1);
  const char* slash = strrchr(controlPath, '/');
  snprintf(lockPath, sizeof(lockPath), "%.*s/relay.lock", (int)(slash - controlPath), controlPath);
  snprintf(pidPath, sizeof(pidPath), "%.*s/node.pid", (int)(slash - controlPath), controlPath);
  // init puts the control socket in APP/.libfcgi.
  const char* app = slash;
  while (app > controlPath && *--app != '/') {
  }
  if (app > controlPath) {
    // The flag of the web server's direct path (lib/relay/proxy-socket.ts): APP/.libfcgi-proxy/live.
    snprintf(proxyFlagPath, sizeof(proxyFlagPath), "%.*s/.libfcgi-proxy/live", (int)(app - controlPath), controlPath);
    // A launcher from before its relay-log line: init puts the log in APP/logs.
    if (logPath[0] == '\0') snprintf(logPath, sizeof(logPath), "%.*s/logs/app.log", (int)(app - controlPath), controlPath);
  }
  return 0;
}
