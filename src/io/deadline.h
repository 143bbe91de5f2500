#pragma once
// Deadline: the timeout of whatever a connection is awaiting right now, at the cost of a
// plain store per operation. One steady_timer per connection stays armed; when it fires
// before the current deadline it re-arms itself to that deadline, and when the deadline has
// passed it calls the expiry action (which cancels the sockets the connection is waiting on).
// Setting a deadline never touches the timer unless the new deadline is earlier than the
// one the timer is armed for, so the common path makes no syscall and no allocation.
//
// Single-threaded: use from the connection's own io_context thread. stop() must be called
// before the owner goes away; after stop() the action is never called.

#include <chrono>
#include <functional>
#include <memory>

#include "io/asio.h"

namespace tg::io {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  Deadline(net::any_io_executor ex, std::function<void()> onExpire)
      : state_(std::make_shared<State>(ex, std::move(onExpire))) {}
  ~Deadline() { stop(); }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // The current operation must finish within `d` from now.
  void expiresAfter(Clock::duration d) { set(Clock::now() + d); }
  void set(Clock::time_point at) {
    state_->deadline = at;
    state_->expired = false;
    if (!state_->armed || at < state_->armedAt) {
      arm(state_);
    }
  }
  // No deadline until the next set().
  void clear() { state_->deadline = Clock::time_point::max(); }
  // True once the action ran for the current deadline.
  bool expired() const { return state_->expired; }
  void stop() {
    state_->stopped = true;
    state_->timer.cancel();
  }

 private:
  struct State {
    State(net::any_io_executor ex, std::function<void()> f) : timer(ex), onExpire(std::move(f)) {}
    net::steady_timer timer;
    std::function<void()> onExpire;
    Clock::time_point deadline = Clock::time_point::max();
    Clock::time_point armedAt = Clock::time_point::max();
    bool armed = false;
    bool expired = false;
    unsigned generation = 0;  // bumped by every arm(); a handler of an older one is stale
    bool stopped = false;
  };

  // The handler holds the state alive, so the timer may outlive the Deadline object briefly.
  static void arm(const std::shared_ptr<State>& s) {
    s->armed = true;
    s->armedAt = s->deadline;
    unsigned gen = ++s->generation;
    s->timer.expires_at(s->deadline);
    s->timer.async_wait([s, gen](const error_code&) {
      if (s->stopped || gen != s->generation) {
        return;  // stopped, or re-armed earlier by set(): that wait owns the timer now
      }
      s->armed = false;
      if (s->deadline == Clock::time_point::max()) {
        return;
      }
      if (Clock::now() >= s->deadline) {
        s->expired = true;
        s->deadline = Clock::time_point::max();
        s->onExpire();
        return;
      }
      arm(s);
    });
  }

  std::shared_ptr<State> state_;
};

}  // namespace tg::io
