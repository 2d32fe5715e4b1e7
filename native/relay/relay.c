// fcgi-relay: what a web server that spawns FastCGI processes (mod_fcgid, lighttpd's bin-path, spawn-fcgi) runs in
// place of a Node process. It holds the listening socket the web server passed on fd 0 and hands a copy to the site's
// one Node process over a Unix socket (SCM_RIGHTS), starting that process when none runs; then it waits. The web
// server keeps managing relays as it managed apps (spawn on demand, idle timeout, kill at stop); the Node process
// serves every socket it was handed, drops one when its relay's connection closes, and exits when none is left.
//
// Run by a launcher's first line, `#!/path/to/fcgi-relay`, so argv is [relay, launcher]. The launcher names node (and
// its options) on a line `// relay-node: /path/to/node`, the control socket on a line `// relay-socket: PATH`, and
// the app log its reasons go to (besides stderr, which only the server's own log keeps) on `// relay-log: PATH`
// (the launcher's preamble, which launcher.c reads);
// node on the #! line instead (argv [relay, "node [options]", launcher]) works too, where the kernel allows the
// length. Without a listening socket on fd 0 (run by hand, or as CGI), or without a socket line, it becomes Node.
//
// The socket it hands over carries every request of the site, so it goes only to this account: the control socket's
// folder must be a real directory of this uid that nobody else may enter (0700), and the process listening on the
// control socket must run as this uid (SO_PEERCRED). Otherwise the relay says why and serves its socket itself.
//
// No libfcgi and no allocation after start: it costs a few hundred kilobytes and a millisecond per spawn.
#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char kHello[] = "libfcgi-relay 1";  // sent with the socket; relay_listener.cc expects the same
static const char kSocketVariable[] = "LIBFCGI_RELAY_SOCKET";
static const int kStartTimeoutMs = 60000;  // a Node process that has not taken a socket by then never will
// A running Node process that takes no socket for this long is hung (its event loop blocked, or the process stopped):
// it is killed and replaced, never joined by a second. A stopped one (SIGSTOP) that goes on within it is waited for.
// LIBFCGI_RELAY_HUNG_MS in the relay's environment sets another bound (FcgidInitialEnv, spawn-fcgi's environment).
static int hungMs = 30000;
// How long a relay waits for the answer to its greeting: a process that takes longer is not answering.
static int answerMs = 10000;

// The app log, opened for one line: only a regular file of this uid, never through a symbolic link, so that a line
// never lands in a file another account planted. Its folder is made as the launcher makes it (0700) when a relay
// speaks before any Node process has. Returns the descriptor, or -1.
static int openLog(void) {
  if (logPath[0] == '\0') return -1;
  const int flags = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
  int fd = open(logPath, flags, 0600);
  if (fd < 0 && errno == ENOENT) {
    char folder[sizeof(logPath)];
    strcpy(folder, logPath);
    *strrchr(folder, '/') = '\0';
    if (mkdir(folder, 0700) == 0) fd = open(logPath, flags, 0600);
  }
  struct stat info;
  if (fd >= 0 && (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) || info.st_uid != getuid())) {
    close(fd);
    return -1;
  }
  return fd;
}

// Says what happened on stderr (the web server's log) and in the app log (the account's own), as a line of the
// same form as the launcher's.
static void say(const char* what, const char* detail) {
  char line[1024];
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm utc;
  gmtime_r(&now.tv_sec, &utc);
  char stamp[32];
  strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc);
  int length = snprintf(line, sizeof(line), "%s.%03dZ fcgi-relay[%d]: %s%s%s\n", stamp, (int)(now.tv_nsec / 1000000),
                        (int)getpid(), what, detail ? ": " : "", detail ? detail : "");
  if (length < 0) return;
  if (length >= (int)sizeof(line)) length = sizeof(line) - 1;
  fputs(strchr(line, ' ') + 1, stderr);  // the web server stamps its log lines itself
  int log = openLog();
  if (log < 0) return;
  ssize_t written = write(log, line, length);  // a full disk loses the line, never the request
  (void)written;
  close(log);
}

static long long nowMs(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int isListeningSocket(int fd) {
  int listening = 0;
  socklen_t length = sizeof(listening);
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 && listening;
}

// libfcgi allocates each parameter and a buffer per stream for every request and frees them at its end: more small
// blocks than glibc's per-thread cache keeps of a size (7), so the rest go to the fastbins, which the next request's
// 8 KiB buffer then makes glibc consolidate. A cache of 32 a size holds a request's worth: about 4% fewer instructions
// per request behind nginx, the same resident size (docs/performance.md). Glibc reads tunables only as a program
// starts, so they go into the environment Node is started with; a tcache_count of the user's own is kept.
static void tuneMallocForNode(void) {
  static const char tunable[] = "glibc.malloc.tcache_count=32";
  const char* tunables = getenv("GLIBC_TUNABLES");
  if (tunables == NULL || *tunables == '\0') {
    setenv("GLIBC_TUNABLES", tunable, 1);
  } else if (strstr(tunables, "glibc.malloc.tcache_count=") == NULL) {
    char both[1024];
    if (snprintf(both, sizeof(both), "%s:%s", tunables, tunable) < (int)sizeof(both)) setenv("GLIBC_TUNABLES", both, 1);
  }
}

// Replaces this process with Node running the launcher; returns only by exiting 127 when node cannot run.
static void execNode(void) {
  tuneMallocForNode();
  execv(nodeArgs[0], nodeArgs);
  say("cannot run node", strerror(errno));
  _exit(127);
}

// Becomes Node with the launcher, serving fd 0 itself: the model without a relay.
static void becomeNode(void) {
  unsetenv(kSocketVariable);
  execNode();
}

enum { kNoNode = -1, kBecomeNode = -2, kNotOurs = -3 };

// Connects to the Node process and hands it fd 0. Returns the connection once Node has said it took the socket (the
// relay then waits on it); kNoNode when no Node process listens or it refused; kNotOurs when what listens on the
// control socket runs as another user, who must never be handed the site's requests.
static int handOver(void) {
  int control = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (control < 0) return kNoNode;
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  strcpy(address.sun_path, controlPath);
  if (connect(control, (struct sockaddr*)&address, sizeof(address)) != 0) {
    close(control);
    return kNoNode;
  }
  struct ucred peer;
  socklen_t peerLength = sizeof(peer);
  if (getsockopt(control, SOL_SOCKET, SO_PEERCRED, &peer, &peerLength) != 0 || peer.uid != getuid()) {
    close(control);
    char who[64];
    snprintf(who, sizeof(who), "it is held by uid %d", peerLength == sizeof(peer) ? (int)peer.uid : -1);
    say("not handing this site's socket to the control socket; serving it without the relay", who);
    return kNotOurs;
  }
  union {
    char bytes[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ancillary;
  memset(&ancillary, 0, sizeof(ancillary));
  struct iovec payload = {.iov_base = (void*)kHello, .iov_len = sizeof(kHello) - 1};
  struct msghdr message = {
      .msg_iov = &payload, .msg_iovlen = 1, .msg_control = ancillary.bytes, .msg_controllen = sizeof(ancillary.bytes)};
  struct cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  int listener = 0;
  memcpy(CMSG_DATA(header), &listener, sizeof(int));
  char answer = 0;
  struct pollfd wait = {.fd = control, .events = POLLIN};
  if (sendmsg(control, &message, MSG_NOSIGNAL) < 0 || poll(&wait, 1, answerMs) != 1 || recv(control, &answer, 1, 0) != 1 ||
      answer != 'k') {
    close(control);
    return kNoNode;
  }
  return control;
}

// Whether the control socket's folder is this account's alone, creating it when missing: a real directory (not a
// symbolic link) owned by this uid, mode 0700. Returns NULL, or why not.
static const char* folderRefusal(const char* folder) {
  if (mkdir(folder, 0700) != 0 && errno != EEXIST) return strerror(errno);
  struct stat info;
  if (lstat(folder, &info) != 0) return strerror(errno);
  if (S_ISLNK(info.st_mode)) return "it is a symbolic link";
  if (!S_ISDIR(info.st_mode)) return "it is not a directory";
  if (info.st_uid != getuid()) return "it belongs to another user";
  if ((info.st_mode & 07777) != 0700) return "its mode is not 0700, so other users may enter it";
  return NULL;
}

// The site's Node process, when one is alive though it took no socket now (starting, restarting in place, waiting out
// a crash's back-off, stopped or hung): the pid its node.pid names, still running this launcher. Else 0.
static pid_t liveNode(void) {
  char text[32] = {0};
  int fd = open(pidPath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t length = read(fd, text, sizeof(text) - 1);
  close(fd);
  pid_t pid = length > 0 ? (pid_t)atol(text) : 0;
  if (pid <= 1 || (kill(pid, 0) != 0 && errno == ESRCH)) return 0;
  char path[64], args[8192];
  snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  length = fd < 0 ? -1 : read(fd, args, sizeof(args) - 1);
  if (fd >= 0) close(fd);
  if (length <= 0) return pid;  // alive with no command line: in the middle of an exec (a restart in place)
  for (ssize_t at = 0; at < length; at += (ssize_t)strlen(args + at) + 1) {
    // A pid reused by another program is no Node of ours.
    if (strcmp(args + at, launcherPath) == 0 || strcmp(args + at, launcherAbsolute) == 0) return pid;
  }
  return 0;
}

static int startNode(void);

// The Node process let go: if it died without lowering the flag of the web server's direct path (killed), lower it,
// so that Apache sends requests here, which start the next one, rather than to a socket nobody serves.
static void lowerDeadProxyFlag(void) {
  if (proxyFlagPath[0] == '\0') return;
  int fd = open(proxyFlagPath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  char text[32] = {0};
  ssize_t got = read(fd, text, sizeof(text) - 1);
  close(fd);
  long pid = got > 0 ? strtol(text, NULL, 10) : 0;
  if (pid <= 1) return;
  // A Node process lowers its own flag before it lets go; one that did not is dying, and its connection may close a
  // moment before the kernel has done with its pid.
  for (int i = 0; i < 100 && kill((pid_t)pid, 0) == 0; i++) usleep(10000);
  if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) unlink(proxyFlagPath);
}

// Waits for the live Node process to take fd 0, as it will once it listens again. Returns the connection; starts a
// new process if it ends meanwhile, or kills it and starts one if it takes nothing for hungMs.
static int waitForNode(pid_t node) {
  long long deadline = nowMs() + hungMs;
  for (int pause = 2;; pause = pause < 100 ? pause * 2 : 100) {
    int control = handOver();
    if (control >= 0 || control == kNotOurs) return control;
    if (liveNode() != node) return startNode();
    if (nowMs() > deadline) {
      char which[64];
      snprintf(which, sizeof(which), "process %d, for %d ms", (int)node, hungMs);
      say("the app's Node process takes no socket, so it is hung or stopped: replacing it", which);
      kill(node, SIGKILL);
      for (int i = 0; i < 200 && kill(node, 0) == 0; i++) usleep(10000);
      return startNode();
    }
    usleep(pause * 1000);
  }
}

// Starts the site's Node process and waits until it has taken fd 0. Called with the lock held, so that relays
// spawned together start one. Returns the connection; if Node exits or never listens, the relay becomes Node itself,
// whose start-up guard answers 503 and retries, as without a relay.
static int startNode(void) {
  pid_t child = fork();
  if (child < 0) {
    say("cannot fork", strerror(errno));
    return -1;
  }
  if (child == 0) {
    // Its own session: whoever stops this relay (by pid or by group) leaves Node to finish its other relays' work.
    setsid();
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0 && null != 0) {
      dup2(null, 0);
      close(null);
    }
    setenv(kSocketVariable, controlPath, 1);
    execNode();
  }
  long long deadline = nowMs() + kStartTimeoutMs;
  for (int pause = 2;; pause = pause < 50 ? pause * 2 : 50) {
    int control = handOver();
    if (control >= 0) return control;
    if (control == kNotOurs) return kBecomeNode;
    if (kill(child, 0) != 0 && errno == ESRCH) {  // no zombie to wait for: see SA_NOCLDWAIT in main
      say("the app exited before it listened; serving this socket without the relay", NULL);
      return kBecomeNode;
    }
    if (nowMs() > deadline) {
      say("the app did not listen in time; serving this socket without the relay", NULL);
      return kBecomeNode;
    }
    usleep(pause * 1000);
  }
}

// Hands fd 0 to the running Node process, or starts one. Returns the connection, or kBecomeNode.
static int connectOrStart(void) {
  char folder[sizeof(controlPath)];
  strcpy(folder, controlPath);
  *strrchr(folder, '/') = '\0';
  const char* refusal = folderRefusal(folder);
  if (refusal != NULL) {
    char why[sizeof(folder) + 128];
    snprintf(why, sizeof(why), "%s: %s", folder, refusal);
    say("the control socket's folder is not this account's alone; serving this socket without the relay", why);
    return kBecomeNode;
  }
  int control = handOver();
  if (control >= 0) return control;
  if (control == kNotOurs) return kBecomeNode;
  int lock = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lock < 0) {
    say("cannot open the lock file", strerror(errno));
    return kBecomeNode;
  }
  while (flock(lock, LOCK_EX) != 0 && errno == EINTR) {
  }
  control = handOver();  // another relay may have started one while this one waited for the lock
  if (control == kNoNode) {
    pid_t node = liveNode();
    control = node > 0 ? waitForNode(node) : startNode();
  }
  close(lock);
  return control == kNotOurs ? kBecomeNode : control;
}

// Relays for good: waits on the connection of the Node process that took fd 0 and, when it lets go, hands fd 0 to
// the next, started by the next request if none runs. Returns only by becoming Node.
static void relay(int control) {
  for (;;) {
    if (control == kBecomeNode) becomeNode();
    if (control < 0) {
      sleep(1);
      control = connectOrStart();
      continue;
    }
    // Handed over: wait for the Node process to let go (it exited, crashed, or is being replaced).
    char byte;
    for (ssize_t got = 1; got > 0 || (got < 0 && errno == EINTR);) got = recv(control, &byte, 1, 0);
    close(control);
    lowerDeadProxyFlag();
    // A new Node process may already run (a redeploy); if not, the next request starts one.
    control = handOver();
    if (control >= 0) continue;
    struct pollfd pending = {.fd = 0, .events = POLLIN};
    while (poll(&pending, 1, -1) < 0 && errno == EINTR) {
    }
    control = connectOrStart();
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s [NODE] LAUNCHER (as a launcher's #! line runs it)\n", argv[0]);
    return 2;
  }
  char* launcher = argv[argc - 1];
  setLauncherPath(launcher);
  const char* hung = getenv("LIBFCGI_RELAY_HUNG_MS");
  if (hung != NULL && atoi(hung) >= 100) hungMs = atoi(hung);
  if (answerMs > hungMs) answerMs = hungMs;
  readPreamble(launcher);
  static char socketLine[sizeof(controlPath)], nodeLine[1024];
  char* node = argc >= 3 ? argv[1] : preambleLine("relay-node", nodeLine, sizeof(nodeLine));
  if (preambleLine("relay-socket", socketLine, sizeof(socketLine)) == NULL) socketLine[0] = '\0';
  if (preambleLine("relay-log", logPath, sizeof(logPath)) == NULL || logPath[0] != '/') logPath[0] = '\0';
  if (node == NULL || parseCommand(node, launcher) != 0) {
    say("name node on the launcher's '// relay-node: /path/to/node' line", launcher);
    return 2;
  }
  if (!isListeningSocket(0)) becomeNode();  // run by hand or as CGI: Node does what it does there
  if (setControlPath(socketLine) != 0) {
    say("the launcher has no '// relay-socket: /absolute/path' line; serving without the relay", launcher);
    becomeNode();
  }
  signal(SIGPIPE, SIG_IGN);
  // The Node process it starts is reaped by the kernel: a relay waits on its control connection, not on children,
  // and a crashed Node must not linger as a zombie. (exec clears the flag, so Node does not inherit it.)
  struct sigaction noZombies = {.sa_handler = SIG_DFL, .sa_flags = SA_NOCLDWAIT};
  sigaction(SIGCHLD, &noZombies, NULL);
  relay(connectOrStart());
}
