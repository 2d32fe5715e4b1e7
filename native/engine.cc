// The asynchronous engine's threads. Workers wait together on one epoll set holding the listening socket and the kept
// connections that are idle, so a kept connection never pins a thread. Each worker serves one request at a time
// through its RequestSlot and takes I/O orders from the JS thread through the request's queue. Workers start on
// demand: one at first, and another only when the last idle one takes a connection, up to the limit, so a process
// that gets one request at a time (mod_fcgid) has two. Plain C++: everything that happens leaves through the Sink,
// which the N-API layer turns into JS calls.
#include "engine.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <system_error>

#include "request_slot.h"

namespace fcgi {

namespace {

constexpr uint8_t kAbortRequestType = 2;  // FCGI_ABORT_REQUEST

void Signal(int eventFd) {
  uint64_t one = 1;
  ssize_t ignored = write(eventFd, &one, sizeof(one));
  (void)ignored;
}

void Consume(int eventFd) {
  uint64_t count;
  ssize_t ignored = read(eventFd, &count, sizeof(count));
  (void)ignored;
}

// The same rule as lib/http-message.ts hasNoBody(): Apache sends no CONTENT_LENGTH for a chunked upload, so only
// methods without a body may be taken at their word.
bool DeclaresNoBody(char** envp) {
  const char* length = FCGX_GetParam("CONTENT_LENGTH", envp);
  if (length != nullptr && std::strcmp(length, "0") == 0) return true;
  if (length != nullptr && *length != '\0') return false;
  const char* method = FCGX_GetParam("REQUEST_METHOD", envp);
  return method != nullptr && (std::strcmp(method, "GET") == 0 || std::strcmp(method, "HEAD") == 0);
}

}  // namespace

void Job::Enqueue(Command command) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    commands.push_back(std::move(command));
  }
  Signal(wakeFd);
}

Engine::Engine(int listenFd, AllowList allow, int maxWorkers, GuardLimits limits, Sink sink)
    : listenFd_(listenFd), allow_(std::move(allow)), maxWorkers_(maxWorkers), limits_(limits), sink_(std::move(sink)) {}

Engine::~Engine() {
  bool started;
  {
    std::lock_guard<std::mutex> lock(workersMutex_);
    started = !threads_.empty();
  }
  if (started) {
    Close();
    Join();
  }
  if (epollFd_ >= 0) close(epollFd_);
  if (stopFd_ >= 0) close(stopFd_);
}

int Engine::Start() {
  epollFd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epollFd_ < 0) return errno;
  stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stopFd_ < 0) return errno;
  // Workers race for each connection, so accept() must not block the ones that lose.
  int flags = fcntl(listenFd_, F_GETFL);
  if (flags < 0 || fcntl(listenFd_, F_SETFL, flags | O_NONBLOCK) < 0) return errno;

  epoll_event stop{};
  stop.events = EPOLLIN;  // level-triggered: once signalled, it wakes every worker
  stop.data.fd = stopFd_;
  epoll_event listening{};
  listening.events = EPOLLIN | EPOLLEXCLUSIVE;  // one worker woken per new connection
  listening.data.fd = listenFd_;
  if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, stopFd_, &stop) < 0) return errno;
  if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, listenFd_, &listening) < 0) return errno;

  std::lock_guard<std::mutex> lock(workersMutex_);
  return StartWorker();
}

int Engine::StartWorker() {
  int wakeFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeFd < 0) return errno;
  running_++;
  idle_++;
  try {
    threads_.emplace_back([this, wakeFd] { Run(wakeFd); });
  } catch (const std::system_error& error) {  // out of threads (RLIMIT_NPROC counts them) or memory
    running_--;
    idle_--;
    close(wakeFd);
    return error.code().value();
  }
  return 0;
}

// The last idle worker starts another before it serves, so that one always waits for the next connection while the
// limit allows: a connection never waits for a request that is slow to arrive or to finish. When the start fails
// (the thread limit), the workers that run go on serving.
void Engine::TookConnection() {
  std::lock_guard<std::mutex> lock(workersMutex_);
  if (--idle_ == 0 && running_ < maxWorkers_ && !closing_) StartWorker();
}

void Engine::ServedConnection() {
  std::lock_guard<std::mutex> lock(workersMutex_);
  idle_++;
}

void Engine::Close() {
  if (closing_.exchange(true)) return;
  epoll_ctl(epollFd_, EPOLL_CTL_DEL, listenFd_, nullptr);
  std::lock_guard<std::mutex> lock(idleMutex_);
  for (int fd : idleConnections_) {
    epoll_ctl(epollFd_, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
  }
  idleConnections_.clear();
  Signal(stopFd_);
}

void Engine::Join() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(workersMutex_);
    threads.swap(threads_);
  }
  for (std::thread& thread : threads) thread.join();
}

// Waits for the next connection with a request to serve: a new one, or a kept one that has become readable.
// Returns -1 when the engine is closing.
int Engine::NextConnection() {
  for (;;) {
    epoll_event event;
    int ready = epoll_wait(epollFd_, &event, 1, -1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0 || event.data.fd == stopFd_ || closing_) return -1;

    if (event.data.fd == listenFd_) {
      sockaddr_storage peer{};
      socklen_t length = sizeof(peer);
      int fd = accept4(listenFd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
      if (fd < 0) continue;  // another worker took it, or it went away
      if (!allow_.Allows(peer)) {
        close(fd);
        continue;
      }
      if (peer.ss_family == AF_INET || peer.ss_family == AF_INET6) {
        int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
      }
      return fd;
    }

    int fd = event.data.fd;
    std::lock_guard<std::mutex> lock(idleMutex_);
    if (idleConnections_.erase(fd) == 0) continue;  // Close() dropped it meanwhile
    epoll_ctl(epollFd_, EPOLL_CTL_DEL, fd, nullptr);
    return fd;
  }
}

void Engine::KeepIdle(int connectionFd) {
  std::lock_guard<std::mutex> lock(idleMutex_);
  if (closing_) {
    close(connectionFd);
    return;
  }
  epoll_event readable{};
  readable.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  readable.data.fd = connectionFd;
  idleConnections_.insert(connectionFd);
  if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, connectionFd, &readable) < 0) {
    idleConnections_.erase(connectionFd);
    close(connectionFd);
  }
}

void Engine::Run(int wakeFd) {
  pthread_setname_np(pthread_self(), "libfcgi-worker");  // as /proc/PID/task/*/comm and top -H show it
  {
    RequestSlot slot(limits_);
    for (int fd; (fd = NextConnection()) >= 0;) {
      TookConnection();
      bool counted = Serve(slot, fd, wakeFd);
      int kept = slot.TakeKeptConnection();
      if (kept >= 0) KeepIdle(kept);
      if (!counted) ServedConnection();
    }
  }
  close(wakeFd);
  bool last;
  {
    std::lock_guard<std::mutex> lock(workersMutex_);
    idle_--;
    last = --running_ == 0;
  }
  if (last) sink_(new Event(Event::kWorkersExited, nullptr));
}

// Serves one request on the connection: announces it, then carries out the JS thread's orders until the order that
// ends it. Meanwhile it watches the connection for the web server giving up (a closed connection, FCGI_ABORT_REQUEST).
// Returns true when it has already counted the worker idle, which it does when it finishes the request: the web server
// may send its next request as soon as END_REQUEST reaches it, before this thread is back waiting, and that must not
// start another thread.
bool Engine::Serve(RequestSlot& slot, int connectionFd, int wakeFd) {
  int code = slot.AcceptOn(connectionFd);
  if (code != 0) {
    const RecordGuard& guard = slot.guard();
    if (guard.refusal() == 0) return false;  // the connection ended or broke before a request: nothing to report
    auto* refused = new Event(Event::kRefused, nullptr);
    refused->code = code;
    refused->length = guard.refusalMessage().size();
    refused->data.reset(new char[refused->length]);
    std::memcpy(refused->data.get(), guard.refusalMessage().data(), refused->length);
    sink_(refused);
    return false;
  }

  auto job = std::make_shared<Job>();
  const FCGX_Request& request = slot.fcgx();
  job->role = request.role;
  job->requestId = request.requestId;
  job->keepConn = request.keepConnection != 0;
  job->wakeFd = wakeFd;
  // Copy the parameters now, on the thread that owns the request: libfcgi frees them at finish.
  for (char** pair = request.envp; *pair != nullptr; pair++) {
    const char* equals = strchr(*pair, '=');
    if (equals == nullptr) continue;
    job->params.emplace_back(*pair, equals - *pair);
    job->params.emplace_back(equals + 1);
  }
  // A request that declares no body has only the empty FCGI_STDIN record to read: read it now, so that from here on
  // any byte arriving is an abort or the connection's end, which the loop below can report.
  bool inputEnded = DeclaresNoBody(request.envp) && slot.SkipInput() == 0;
  bool dataStarted = false;  // the filter role's FCGI_DATA, which finishing may have to drain
  Consume(wakeFd);           // orders of an earlier request are all carried out: start from a quiet eventfd
  sink_(new Event(Event::kRequest, job));

  bool watchPeer = true;
  bool finished = false;
  while (!finished) {
    pollfd fds[2] = {{wakeFd, POLLIN, 0}, {connectionFd, 0, 0}};
    if (watchPeer) fds[1].events = static_cast<short>(POLLRDHUP | (inputEnded ? POLLIN : 0));
    if (poll(fds, watchPeer ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }

    if (watchPeer && fds[1].revents != 0) {
      bool aborted = (fds[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
      if (!aborted && (fds[1].revents & POLLIN)) {
        unsigned char header[8];
        ssize_t peeked = recv(connectionFd, header, sizeof(header), MSG_PEEK | MSG_DONTWAIT);
        aborted = peeked == 0 || (peeked >= 2 && header[1] == kAbortRequestType);
      }
      watchPeer = false;  // report once; libfcgi sees the rest when it reads
      if (aborted) sink_(new Event(Event::kAborted, job));
    }

    if (!(fds[0].revents & POLLIN)) continue;
    Consume(wakeFd);
    std::deque<Command> commands;
    {
      std::lock_guard<std::mutex> lock(job->mutex);
      commands.swap(job->commands);
    }
    while (!commands.empty() && !finished) {
      Command command = std::move(commands.front());
      commands.pop_front();
      if (command.kind == Command::kRead) {
        auto* event = new Event(Event::kReadDone, job);
        event->data.reset(new char[command.size > 0 ? command.size : 1]);
        int count = 0;
        event->code = slot.ReadSome(event->data.get(), command.size, &count);
        event->length = static_cast<size_t>(count);
        if (count == 0) inputEnded = true;
        sink_(event);
      } else if (command.kind == Command::kStartData) {
        dataStarted = true;
        auto* event = new Event(Event::kStartDataDone, job);
        event->code = slot.StartFilterData();
        sink_(event);
      } else {
        auto* event = new Event(Event::kWriteDone, job);
        int length = static_cast<int>(command.data.size());
        if (length > 0) {
          event->code = command.toStderr ? slot.WriteStderr(command.data.data(), length)
                                         : slot.Write(command.data.data(), length);
        }
        if (command.end) {
          slot.SetExitStatus(command.exitStatus);
          // Counted idle before END_REQUEST goes, unless finishing has input left to drain, which can take long.
          bool nothingToDrain = inputEnded && !dataStarted;
          if (nothingToDrain) ServedConnection();
          int finishCode = slot.Finish();
          if (!nothingToDrain) ServedConnection();
          if (event->code == 0) event->code = finishCode;
          event->final = true;
          finished = true;
        } else if (commands.empty() && event->code == 0) {
          // Node's writes reach the peer at once; libfcgi would hold them until its 8 KiB buffer fills.
          event->code = slot.Flush();
        }
        sink_(event);
      }
    }
  }
  return finished;
}

}  // namespace fcgi
