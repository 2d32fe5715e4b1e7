// Keeps a connection's work from running inside itself (event_loop/connection.h).
//
// What a connection tells its owner becomes a call into JS, and JS may call back into the connection from there: a
// handler that ends its response at once ends it inside OnRequest. Such a call must not start the connection's work
// over under the caller's feet; it asks for another round of the work in progress instead. And the owner may be
// called only from one of the connection's libuv callbacks, so a notice that falls due elsewhere (in a call JS made
// from a timer, say) waits for the owner to run the connection soon.
#pragma once

namespace fcgi {

class Reentry {
 public:
  // The extent of one of the connection's libuv callbacks: the owner may be called while it lasts.
  class Callback {
   public:
    explicit Callback(Reentry& reentry) : reentry_(reentry) { reentry_.inCallback_ = true; }
    ~Callback() { reentry_.inCallback_ = false; }
    Callback(const Callback&) = delete;
    Callback& operator=(const Callback&) = delete;

   private:
    Reentry& reentry_;
  };

  bool inCallback() const { return inCallback_; }

  // Starts a round of work: false when one is running already, which then goes round again instead.
  bool Enter() {
    if (running_) {
      again_ = true;
      return false;
    }
    running_ = true;
    again_ = false;
    return true;
  }
  // Asks the round running for another go: what it did moved the connection on.
  void AskAgain() { again_ = true; }
  // At the end of a round: true when it must go again; false ends the work.
  bool Again() {
    if (again_) {
      again_ = false;
      return true;
    }
    running_ = false;
    return false;
  }

  // Asks for the owner to run the connection soon: true the first time until Ran(), when the owner must be told.
  bool Schedule() {
    if (scheduled_) return false;
    scheduled_ = true;
    return true;
  }
  void Ran() { scheduled_ = false; }
  bool scheduled() const { return scheduled_; }

 private:
  bool inCallback_ = false;
  bool running_ = false;
  bool again_ = false;
  bool scheduled_ = false;
};

}  // namespace fcgi
