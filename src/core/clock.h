#pragma once
// Clock: the one source of time for code that decides by time (limits, expiry, pools).
// Production code uses SystemClock; tests use ManualClock and step time exactly.
// Both clocks are safe to read from any thread; ManualClock::advance is for tests only.

#include <atomic>
#include <chrono>

namespace tg::core {

using MonoTime = std::chrono::steady_clock::time_point;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for durations and deadlines.
  virtual MonoTime now() const = 0;
  // Wall-clock time, for windows aligned to the calendar and for logs.
  virtual std::chrono::system_clock::time_point wallNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  MonoTime now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wallNow() const override {
    return std::chrono::system_clock::now();
  }
};

class ManualClock final : public Clock {
 public:
  MonoTime now() const override { return MonoTime(Duration(ns_.load())); }
  std::chrono::system_clock::time_point wallNow() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(Duration(ns_.load())));
  }
  void advance(Duration d) { ns_ += d.count(); }
  void set(Duration sinceEpoch) { ns_ = sinceEpoch.count(); }

 private:
  std::atomic<long long> ns_{0};
};

}  // namespace tg::core
