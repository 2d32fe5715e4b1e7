// One FastCGI connection served on Node's event loop, with libfcgi as its codec.
//
// The socket is non-blocking and watched by libuv. What arrives goes through the record guard, which keeps the bytes
// libfcgi may see; libfcgi reads them from memory and writes into memory (native/overrides/libfcgi_io.cc routes its
// OS_Read, OS_Write and OS_IpcClose here while a Connection is current), and the output goes to the socket when it can
// take it. libfcgi is called only when what it will read is already here: FCGX_Accept_r once the guard has seen the end
// of PARAMS, and reads of the body with "nothing yet" turned back into a wait instead of an error. Plain C++ and
// libuv; what happens leaves through ConnectionOwner, which the N-API layer turns into JS calls.
//
// The connection is in one State at a time, and every event goes through Move, the one place where it goes from one
// to the next. Whether it is kept after a request is one fact, keepConn_, which each event that rules it out clears
// as it happens, so the request's end only reads it. The code is split by job: connection.cc moves the
// connection (the libuv callbacks, Move, the steps), connection_request.cc calls libfcgi for the request, and
// connection_socket.cc moves the bytes and watches the socket. event_loop/reentry.h guards against JS calling back in.
#pragma once
#include <fastcgi.h>
#include <fcgiapp.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "event_loop/reentry.h"
#include "protocol/record_guard.h"

namespace fcgi {

class Connection;

// What one socket read takes, what one JS read gets at most, and how much output may wait before writers wait: the
// size of Node's stream chunks (lib/request/request-io.ts chunkSize).
constexpr size_t kChunk = 64 * 1024;

// What a connection tells the server that owns it. Every call comes from a libuv callback, never from inside a call
// the owner made, so the owner may call into JS.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  virtual void OnRequest(Connection& connection) = 0;                // a request began: see request()
  virtual void OnInput(Connection& connection) = 0;                  // a read that had to wait can be answered now
  virtual void OnDrained(Connection& connection) = 0;                // the output the owner waits for was sent
  virtual void OnDataStarted(Connection& connection, int code) = 0;  // StartData that had to wait is done
  virtual void OnAborted(Connection& connection) = 0;                // the web server gave up on the request
  virtual void OnRefused(int code, const std::string& why) = 0;      // the guard ended a request before it began
  virtual void OnClosed(Connection& connection) = 0;                 // socket closed and nothing in flight: delete it
  virtual bool Refed() const = 0;  // whether an idle connection keeps the event loop alive
  // Whether a request whose head has come may begin now; if not, the owner schedules the connection once one may.
  virtual bool MayBegin(Connection& connection) = 0;
  // Runs connection.RunSoon() from a libuv callback soon (this loop iteration or the next), once per request for it.
  virtual void Schedule(Connection& connection) = 0;
};

class Connection {
 public:
  // A result of Read and StartData: nothing yet, the owner hears through OnInput or OnDataStarted.
  static constexpr int kLater = -3000;

  Connection(ConnectionOwner& owner, uv_loop_t* loop, int fd, const GuardLimits& limits);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Serves what has already arrived on the new connection, and watches the socket only if more must come or go out: a
  // request that is all here and answered at once costs no poll registration (five epoll_ctl and an ioctl in libuv).
  // Call from a libuv callback, once the owner knows the connection: the owner may hear of a request from inside it.
  void Start();

  // The request in flight (role, requestId, keepConnection, envp), valid from OnRequest until End's work is done.
  const FCGX_Request& request() const { return request_; }
  // A number the owner gives each request, to find it again.
  uint32_t serial = 0;

  // Reads what has arrived of FCGI_STDIN (FCGI_DATA after StartData), up to length bytes: a result code, with
  // *count 0 at the end of the stream; kLater when nothing has arrived yet.
  int Read(char* buffer, int length, int* count);
  // Writes to FCGI_STDOUT or FCGI_STDERR, into libfcgi's buffer; Send() or End() sends it. Returns a result code.
  int Write(const char* data, int length, bool toStderr);
  // Sends what has been written (as records of what there is: Node's writes reach the peer at once). Returns true
  // when more output waits than the owner should add to; OnDrained then says when it has gone.
  bool Send();
  // Ends the request with the exit status: what is left of the body is read and dropped as it comes, then
  // END_REQUEST goes. Returns a result code: the first error the request met.
  int End(int exitStatus);
  // For the filter role: skips the rest of FCGI_STDIN; reads then return FCGI_DATA. 0, kLater or an error code.
  int StartData();
  // The server is closing: an idle connection closes now; a busy one, or one whose next request has begun to arrive,
  // after that request; a new one after its first request if that comes within kFirstRequestGrace.
  void CloseWhenIdle();
  // The owner's Refed() changed.
  void RefChanged();

  // The owner says a request may begin now (after MayBegin said no): moves on soon.
  void Wake();
  // What Schedule asked for: the notices that could not be given from inside the owner's call, or the release.
  void RunSoon();

  // libfcgi's I/O while this connection is current (native/overrides/libfcgi_io.cc).
  int ReadForLibfcgi(char* buffer, size_t length);
  int WriteForLibfcgi(const char* data, size_t length);
  void CloseForLibfcgi();
  static Connection* Current();

 private:
  static constexpr std::chrono::milliseconds kFirstRequestGrace{1000};
  static constexpr size_t kInputHighWater = 256 * 1024;  // body bytes held for the app before the socket is left unread
  static constexpr size_t kOutputHighWater = kChunk;     // output waiting before writers are asked to wait
  // Output waiting before the socket is left unread, so that a peer that sends (GET_VALUES, say) without reading the
  // answers is not read from until it does. Above kOutputHighWater, which writers who wait when asked stay under.
  static constexpr size_t kOutputReadStop = 4 * kOutputHighWater;

  // Where the connection is in its life. Move() is the one place it changes.
  enum class State {
    kNew,        // accepted; no request has begun on it, and none is arriving
    kFirstHead,  // the first request's BEGIN_REQUEST and PARAMS are arriving; the guard's clock runs
    kIdle,       // between requests: no byte of the next one yet (management records do not start one)
    kHead,       // the next request's BEGIN_REQUEST and PARAMS are arriving; the guard's clock runs
    kActive,     // the request is the app's
    kFinishing,  // the app has ended it; the rest of the body is read and dropped as it comes, then END_REQUEST
    kClosing,    // the output goes, then the socket closes
    kRefusing,   // the guard refused a request: its answer goes, then our side shuts down and the connection lingers
    kLingering,  // our side is shut down; what the peer still sends is dropped until it closes or kLinger is up
    kClosed,     // the socket is closed; libuv still holds the handles
    kReleased,   // the owner was told (OnClosed) and deletes the connection
  };
  // What moves the connection, and where to (Move).
  enum class Event {
    kHeadBegins,      // a request's first byte came: kNew to kFirstHead, kIdle to kHead
    kOnlyManagement,  // the head held only management records: back to kNew or kIdle
    kBegun,           // libfcgi began the request: kActive; keepConn_ takes the web server's flag
    kEnded,           // the app ended the request: kFinishing
    kFinished,        // END_REQUEST went: kIdle if keepConn_, else kClosing
    kNotKept,         // an abort, an error, the server closing: keepConn_ is cleared
    kPeerEnded,       // the peer sends nothing more (closed its side, broke, lingered out): Peer::kEnded, not kept
    kPeerGone,        // a send failed, what is written goes nowhere: Peer::kGone, not kept
    kClose,           // nothing more is served: kClosing
    kRefused,         // the guard refused the request before it began, and asks for a linger: kRefusing
    kFlushed,         // closing, and the output has gone or cannot go: kClosed, or kRefusing to kLingering
    kReleased,        // libuv has let go of the handles: kReleased, and the owner deletes the connection
  };
  // What the peer can still do: an independent fact, since it may end or vanish in any state.
  enum class Peer {
    kOpen,
    kEnded,  // it sends nothing more; reads of the body end
    kGone,   // it cannot be sent to either: output is dropped
  };
  class Scope;

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnTimer(uv_timer_t* handle);
  static void OnHandleClosed(uv_handle_t* handle);

  // The one place where the connection moves: state_, keepConn_ and peer_ change here and nowhere else.
  void Move(Event event);
  // Moves the connection on as far as what has arrived allows; Step does one state's part.
  void Progress();
  void Step();
  void StepHead();            // kNew to kHead: wait for the head, then begin the request
  void StepActive();          // kActive: give the owner the notices the arrived bytes and the sent output allow
  bool AbortArrived() const;  // an FCGI_ABORT_REQUEST for the request in flight
  // Whether the owner may be called now (from a libuv callback); if not, asks for RunSoon.
  bool CanNotify();
  void ScheduleSoon();
  void Refused();
  // The body's reads fail with code from now on (a timeout, a protocol error), and the connection is not kept.
  void FailInput(int code);
  void Expire();
  bool ReadyToRelease() const { return state_ == State::kClosed && openHandles_ == 0; }
  bool SocketClosed() const { return state_ == State::kClosed || state_ == State::kReleased; }
  bool Busy() const { return state_ == State::kActive || state_ == State::kFinishing; }
  // The server is closing, and a new connection waits kFirstRequestGrace for its first request (see CloseWhenIdle).
  bool AwaitsFirstRequestWhileClosing() const { return state_ == State::kNew && !keepConn_; }

  // libfcgi's side (connection_request.cc).
  void BeginRequest();
  // Ends the request once its input has all come; false while the body is still coming.
  bool TryFinish();
  // Reads and drops the rest of FCGI_STDIN and starts FCGI_DATA: 0, kLater, or an error code.
  int SkipToData();
  // Reads and drops the rest of the current input stream: 0 at its end, kLater, or an error code.
  int SkipToEnd();

  // The socket's side (connection_socket.cc).
  void Receive();
  bool FeedGuard();  // true when it added input for libfcgi
  void Flush();
  size_t OutputWaiting() const { return output_.size() - outputSent_; }
  void CloseSocket();
  void UpdateWatch();
  void UpdateTimer();

  ConnectionOwner& owner_;
  uv_loop_t* loop_;
  int fd_;
  uv_poll_t poll_;
  uv_timer_t timer_;
  int openHandles_ = 0;
  int watched_ = -1;  // the events poll_ watches now; -1 until poll_ is initialized (see Start)
  // When timer_ fires; max() while it is stopped.
  std::chrono::steady_clock::time_point timerDeadline_ = std::chrono::steady_clock::time_point::max();
  Reentry reentry_;

  RecordGuard guard_;
  FCGX_Request request_;
  State state_ = State::kNew;
  Peer peer_ = Peer::kOpen;
  // Whether the connection outlives the request in flight (between requests: the next one). The web server's keepConn,
  // until an event rules it out: an abort, an error, the peer ending, the server closing.
  bool keepConn_ = true;
  bool closedByLibfcgi_ = false;  // libfcgi closed the connection (OS_IpcClose) in the call into it that runs
  std::chrono::steady_clock::time_point firstRequestUntil_;  // see CloseWhenIdle
  std::chrono::steady_clock::time_point lingerUntil_;
  std::string raw_;    // received, not yet taken by the guard (what follows the request's input)
  std::string input_;  // validated, not yet read by libfcgi
  size_t inputRead_ = 0;
  std::string output_;  // written by libfcgi, not yet sent
  size_t outputSent_ = 0;
  // What the owner waits to hear about: each is a notice owed once what it waits for has come.
  struct Waits {
    bool read = false;   // a Read returned kLater: OnInput
    bool data = false;   // a StartData returned kLater: OnDataStarted
    bool drain = false;  // Send said to wait: OnDrained
  } waits_;
  // What has happened to the request in flight; cleared as a request begins.
  struct InFlight {
    bool dataStarted = false;  // the filter role's reads are of FCGI_DATA now
    bool aborted = false;      // the web server gave up: the owner was told (OnAborted) if it still had the request
    int inputError = 0;        // the body's reads fail with this (a timeout, a protocol error)
  } inFlight_;
};

}  // namespace fcgi
