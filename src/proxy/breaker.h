#pragma once
// CircuitBreaker: the state machine that keeps one upstream from being hammered while it
// fails (`upstreams[].circuit_breaker`). Pure: no I/O, no clock of its own — every call takes
// the current monotonic time, so tests step time exactly (core::ManualClock).
//
//   Closed    every request passes. Each result is recorded; the circuit opens after
//             `consecutive_failures` failures in a row, or when at least `min_requests`
//             results fell within the last `window` and `error_rate` % of them failed.
//   Open      requests are refused (fast 503 or the route's fallback) for the cool-down
//             `open_for`; retryAfter() tells how long until half-open.
//   HalfOpen  after the cool-down, the next `half_open_probes` requests are let through as
//             probes; the others are still refused. When every probe succeeded the circuit
//             closes (counters and cool-down reset); the first probe failure re-opens it, for
//             a cool-down doubled each time up to `max_open_for` (default: no growth).
//
// A permit remembers the period (epoch) it was issued in: a result that arrives after the
// state changed (a slow request started while Closed finishing while Open) is ignored, so only
// results of the current period move the state, and only probes decide a half-open circuit.
// Every permit must be recorded exactly once; a probe never recorded would hold its slot.
//
// What a failure is, is the caller's call (proxy/session.cc): no connection, a timeout or an
// invalid or cut response, or a response status in `failure_statuses` (isFailureStatus();
// 500-599 by default, so a 429 is not a failure unless listed).
//
// The error-rate window is kept in 10 slots of window/10 each: a result leaves the window
// between window*9/10 and window after it was recorded.
//
// Not thread-safe: each worker thread owns one breaker per upstream (proxy/worker.h), so the
// thresholds count the results one worker saw, and the state is per worker.

#include <array>
#include <cstdint>
#include <functional>
#include <string_view>

#include "config/config.h"
#include "core/clock.h"

namespace tg::proxy {

enum class BreakerState { Closed, Open, HalfOpen };
const char* breakerStateName(BreakerState s);

class CircuitBreaker {
 public:
  using TimePoint = core::MonoTime;
  using Duration = core::Duration;

  // One state change, reported once through the observer (the worker logs it).
  struct Transition {
    BreakerState from;
    BreakerState to;
    // "consecutive_failures", "error_rate", "cool_down_over", "probe_succeeded",
    // "probe_failed".
    std::string_view reason;
    Duration openFor{0};  // the cool-down, when `to` is Open
  };
  using Observer = std::function<void(const Transition&)>;

  // The answer to allow(). A refused permit carries how long until the circuit half-opens.
  struct Permit {
    bool allowed = false;
    bool probe = false;  // a half-open probe: its result decides the circuit
    uint64_t epoch = 0;
    Duration retryAfter{0};  // refused only: until half-open (at least 1s while half-open)
  };

  // The breaker keeps its own copy of `cfg` (a reloaded Config may drop the original).
  explicit CircuitBreaker(const config::CircuitBreakerConfig& cfg, Observer observer = {});

  // May a request go to the upstream at `now`? Moves Open to HalfOpen once the cool-down
  // is over.
  Permit allow(TimePoint now);
  // The result of an allowed request. Ignored when the state changed since its permit.
  void record(const Permit& permit, bool failure, TimePoint now);

  // True when an upstream response status counts as a failure (`failure_statuses`).
  bool isFailureStatus(int status) const;

  BreakerState state() const { return state_; }

 private:
  struct Slot {
    int64_t index = -1;  // which window/10 period of time this slot counts
    uint32_t total = 0;
    uint32_t failures = 0;
  };
  static constexpr int kSlots = 10;

  // Counts one result in the slot of `now`; returns that slot's index.
  int64_t addToWindow(bool failure, TimePoint now);
  void moveTo(BreakerState to, std::string_view reason, TimePoint now);

  const config::CircuitBreakerConfig cfg_;
  Observer observer_;
  BreakerState state_ = BreakerState::Closed;
  uint64_t epoch_ = 0;  // incremented on every transition
  // Closed.
  unsigned consecutive_ = 0;
  std::array<Slot, kSlots> slots_{};
  // Open.
  TimePoint openUntil_{};
  Duration coolDown_{0};  // the current cool-down (grows after failed probes)
  // HalfOpen.
  unsigned probesIssued_ = 0;
  unsigned probesSucceeded_ = 0;
};

}  // namespace tg::proxy
