// The asynchronous engine's threads. Workers wait together on one epoll set holding the listening socket and the kept
// connections that are idle, so a kept connection never pins a thread. Each worker serves one request at a time
// through its RequestSlot and takes I/O orders from the JS thread through the request's queue. Plain C++: everything
// that happens leaves through the Sink, which the N-API layer turns into JS calls.
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
  enum Kind { kRequest, kReadDone, kWriteDone, kStartDataDone, kAborted, kWorkerExited, kRefused };
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

  Engine(int listenFd, AllowList allow, int workers, GuardLimits limits, Sink sink);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Starts the workers. Returns a result code.
  int Start();
  // Stops accepting and drops idle kept connections; each worker exits after its current request, announcing it
  // with kWorkerExited. Does not block.
  void Close();
  // Joins the workers; call once every one of them has announced its exit.
  void Join();

 private:
  void Run();
  int NextConnection();
  void Serve(class RequestSlot& slot, int connectionFd, int wakeFd);
  void KeepIdle(int connectionFd);

  int listenFd_;
  AllowList allow_;
  int workerCount_;
  GuardLimits limits_;
  Sink sink_;
  int epollFd_ = -1;
  int stopFd_ = -1;
  std::atomic<bool> closing_{false};
  std::vector<std::thread> threads_;
  std::mutex idleMutex_;
  std::set<int> idleConnections_;
};

}  // namespace fcgi
