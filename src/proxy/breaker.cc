#include "proxy/breaker.h"

#include <algorithm>

namespace tg::proxy {

using namespace std::chrono_literals;

const char* breakerStateName(BreakerState s) {
  switch (s) {
    case BreakerState::Closed:
      return "closed";
    case BreakerState::Open:
      return "open";
    case BreakerState::HalfOpen:
      return "half_open";
  }
  return "closed";
}

CircuitBreaker::CircuitBreaker(const config::CircuitBreakerConfig& cfg, Observer observer)
    : cfg_(cfg), observer_(std::move(observer)), coolDown_(cfg.openFor) {}

bool CircuitBreaker::isFailureStatus(int status) const {
  for (const auto& r : cfg_.failureStatuses) {
    if (status >= r.from && status <= r.to) {
      return true;
    }
  }
  return false;
}

CircuitBreaker::Permit CircuitBreaker::allow(TimePoint now) {
  Permit p;
  if (state_ == BreakerState::Open) {
    if (now < openUntil_) {
      p.retryAfter = openUntil_ - now;
      return p;
    }
    moveTo(BreakerState::HalfOpen, "cool_down_over", now);
  }
  if (state_ == BreakerState::HalfOpen) {
    if (probesIssued_ >= std::max(cfg_.halfOpenProbes, 1u)) {
      p.retryAfter = 1s;  // the probes in flight decide soon
      return p;
    }
    ++probesIssued_;
    p.probe = true;
  }
  p.allowed = true;
  p.epoch = epoch_;
  return p;
}

void CircuitBreaker::record(const Permit& permit, bool failure, TimePoint now) {
  if (!permit.allowed || permit.epoch != epoch_) {
    return;  // issued before the last transition: no longer relevant
  }
  if (state_ == BreakerState::HalfOpen) {
    if (!permit.probe) {
      return;
    }
    if (failure) {
      const Duration maxCoolDown = std::max<Duration>(cfg_.maxOpenFor, cfg_.openFor);
      coolDown_ = std::min<Duration>(coolDown_ * 2, maxCoolDown);
      moveTo(BreakerState::Open, "probe_failed", now);
    } else if (++probesSucceeded_ >= std::max(cfg_.halfOpenProbes, 1u)) {
      moveTo(BreakerState::Closed, "probe_succeeded", now);
    }
    return;
  }
  if (state_ != BreakerState::Closed) {
    return;
  }
  const int64_t current = addToWindow(failure, now);
  if (!failure) {
    consecutive_ = 0;
    return;
  }
  ++consecutive_;
  if (cfg_.consecutiveFailures > 0 && consecutive_ >= cfg_.consecutiveFailures) {
    moveTo(BreakerState::Open, "consecutive_failures", now);
    return;
  }
  if (cfg_.errorRatePercent == 0) {
    return;
  }
  // The window: the current slot and the 9 before it.
  uint64_t total = 0;
  uint64_t failures = 0;
  for (const Slot& s : slots_) {
    if (s.index > current - kSlots) {
      total += s.total;
      failures += s.failures;
    }
  }
  if (total >= std::max(cfg_.minRequests, 1u) && failures * 100 >= total * cfg_.errorRatePercent) {
    moveTo(BreakerState::Open, "error_rate", now);
  }
}

int64_t CircuitBreaker::addToWindow(bool failure, TimePoint now) {
  const auto slotLen = std::max<Duration>(Duration(cfg_.window) / kSlots, Duration(1));
  const int64_t index = now.time_since_epoch() / slotLen;
  Slot& s = slots_[static_cast<size_t>(index % kSlots)];
  if (s.index != index) {
    s = Slot{index, 0, 0};
  }
  ++s.total;
  s.failures += failure ? 1 : 0;
  return index;
}

void CircuitBreaker::moveTo(BreakerState to, std::string_view reason, TimePoint now) {
  const BreakerState from = state_;
  state_ = to;
  ++epoch_;
  switch (to) {
    case BreakerState::Open:
      openUntil_ = now + coolDown_;
      break;
    case BreakerState::HalfOpen:
      probesIssued_ = 0;
      probesSucceeded_ = 0;
      break;
    case BreakerState::Closed:
      consecutive_ = 0;
      slots_ = {};
      coolDown_ = cfg_.openFor;
      break;
  }
  if (observer_) {
    observer_(Transition{from, to, reason, to == BreakerState::Open ? coolDown_ : Duration(0)});
  }
}

}  // namespace tg::proxy
