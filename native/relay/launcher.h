// What a relay reads from its launcher (native/relay/launcher.c): node's command line, the control socket and the
// paths beside it, the app log, and the launcher's own path. Set once at start, before the relay does anything else.
#ifndef LIBFCGI_RELAY_LAUNCHER_H
#define LIBFCGI_RELAY_LAUNCHER_H

#include <stddef.h>
#include <sys/un.h>

#define MAX_NODE_ARGS 32

// node, its options, the launcher, NULL: what the relay execs to become or start Node.
extern char* nodeArgs[MAX_NODE_ARGS + 2];
extern char controlPath[sizeof(((struct sockaddr_un*)0)->sun_path)];
extern char lockPath[sizeof(controlPath) + 16];
extern char pidPath[sizeof(controlPath) + 16];
extern char proxyFlagPath[sizeof(controlPath) + 32];
// The launcher as this relay was given it (suexec gives a name relative to the document root) and as an absolute path
// (Node's process.argv[1], which a restart in place passes on): a Node process of the site names one or the other.
extern const char* launcherPath;
extern char launcherAbsolute[4096];
extern char logPath[sizeof(controlPath) + 64];

void setLauncherPath(const char* launcher);
void readPreamble(const char* launcher);
char* preambleLine(const char* name, char* value, size_t size);
int parseCommand(char* command, char* launcher);
int setControlPath(const char* path);

#endif  // LIBFCGI_RELAY_LAUNCHER_H
