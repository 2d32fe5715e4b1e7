// The asynchronous engine's threads. Workers wait together on one epoll set holding the listening socket and the kept
// connections that are idle, so a kept connection never pins a thread. Each worker serves one request at a time
// through its RequestSlot and takes I/O orders from the JS thread through the request's queue. Workers start on
// demand: one at first, and another only when the last idle one takes a connection, up to the limit, so a process
// that gets one request at a time (mod_fcgid) has two. Plain C++: everything that happens leaves through the Sink,
// which the N-API layer turns into JS calls.
#pragma once
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "accept.h"
#include "record_guard.h"

namespace fcgi {

struct Command {
  enum Kind { kRead, kWrite, kStartData };
  explicit Command(Kind k) : kind(k) {}
  Kind kind;
  std::string data;       // kWrite: the bytes
  int size = 0;           // kRead: at most this many bytes
  bool toStderr = false;  // kWrite: to FCGI_STDERR instead of FCGI_STDOUT
  bool end = false;       // kWrite: then finish the request
  int exitStatus = 0;     // kWrite with end
};

// One request in flight, shared by its worker and the JS thread.
struct Job {
  // Set by the worker before the request is announced, read-only afterwards.
  int role = 0;
  int requestId = 0;
  bool keepConn = false;
  std::vector<std::string> params;  // name, value, name, value…

  // Called on the JS thread: queues an order and wakes the worker.
  void Enqueue(Command command);

  // Owned by the N-API layer and touched only on the JS thread.
  void* jsObject = nullptr;

  std::mutex mutex;
  std::deque<Command> commands;
  int wakeFd = -1;  // the worker's eventfd
};

struct Event {
  enum Kind { kRequest, kReadDone, kWriteDone, kStartDataDone, kAborted, kWorkersExited, kRefused };
  Event(Kind k, std::shared_ptr<Job> j) : kind(k), job(std::move(j)) {}
  Kind kind;
  std::shared_ptr<Job> job;
  int code = 0;                  // result code (errors.h); 0 on success
  std::unique_ptr<char[]> data;  // kReadDone: the bytes read; kRefused: why, as text
  size_t length = 0;             // kReadDone, kRefused: how many; 0 means the end of the stream
  bool final = false;            // kWriteDone: the request is finished, the job is done
};

class Engine {
 public:
  using Sink = std::function<void(Event*)>;  // called on worker threads; takes ownership of the event

  // maxWorkers: how many requests may be served at once, one worker thread each.
  Engine(int listenFd, AllowList allow, int maxWorkers, GuardLimits limits, Sink sink);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Starts the first worker; the others start as connections need them. Returns a result code.
  int Start();
  // Stops accepting and drops idle kept connections; each worker exits after its current request, and the last one
  // announces it with kWorkersExited. Does not block.
  void Close();
  // Joins the workers; call once kWorkersExited has been announced.
  void Join();

 private:
  void Run(int wakeFd);
  // Starts a worker that waits for a connection; call with workersMutex_ held. Returns a result code.
  int StartWorker();
  // A worker takes a connection (starting another when it was the last idle one), or is back from one.
  void TookConnection();
  void ServedConnection();
  int NextConnection();
  bool Serve(class RequestSlot& slot, int connectionFd, int wakeFd);
  void KeepIdle(int connectionFd);

  int listenFd_;
  AllowList allow_;
  int maxWorkers_;
  GuardLimits limits_;
  Sink sink_;
  int epollFd_ = -1;
  int stopFd_ = -1;
  std::atomic<bool> closing_{false};
  std::mutex workersMutex_;  // guards threads_, running_ and idle_
  std::vector<std::thread> threads_;
  int running_ = 0;  // workers started that have not exited
  int idle_ = 0;     // of them, those waiting for a connection
  std::mutex idleMutex_;
  std::set<int> idleConnections_;
};

}  // namespace fcgi
