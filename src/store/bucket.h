#pragma once
// The vocabulary of the store seam: what a bucket is, what a reserve asks, what it answers.
// Plain value types shared by every Store implementation (MemoryStore, RedisStore)
// and by limiter/, which builds BucketSpecs and turns results into headers.
//
// A bucket is one key + one algorithm + one window + one limit, counting an amount: tokens,
// 1 per request, or requests in flight. Its identity in a store is (key, algorithm, window);
// the limit is not part of it, so a threshold edit keeps the counters (Higress since PR #2997)
// while a new window or algorithm starts a fresh bucket (Higress puts the window in its key).
//
// Algorithms (the math is in store/algorithm.h, once, for every store):
//   FixedWindow    windows aligned to the Unix epoch on the wall clock, [k*W, (k+1)*W), so
//                  every gateway instance agrees on them; usage restarts at 0 each window.
//                  Higress's fixed_window, but aligned instead of "starts at first charge".
//   SlidingWindow  used = previous * (1 - elapsed/W) + current (weighted previous window over
//                  the same aligned windows; Kong's and Cloudflare's approximation).
//   TokenBucket    capacity = limit, continuous refill of limit per W; the balance may go
//                  negative (debt), so an overshoot delays the next admission instead of
//                  being forgotten at a boundary.
//   Concurrency    requests in flight: reserve adds the amount (1), settle with -1 releases.
//                  `window` is a lease: a bucket untouched for `window` while not at zero is
//                  reset (a crashed holder cannot leak slots forever); 0 = no lease.
//   Quota          a remaining-token counter without a window (Higress's ai-quota): no
//                  counter = unlimited; reserve admits while remaining > 0 and charges
//                  nothing; settle subtracts the usage (into debt), and never creates a
//                  counter; operators set / add to it (Store::adjust) and remove it
//                  (Store::reset). `limit` and `window` are ignored (the key alone, the
//                  consumer, is its identity) and `penalty` must be 0 (store/quota.h).
//
// Time: every operation takes `TimePoint now`, the WALL clock (system_clock), because windows
// are aligned to the calendar and must agree across instances. Production passes
// Clock::wallNow(); tests pass ManualClock::wallNow() and step it exactly. A clock that steps
// backwards never moves a bucket back into an earlier window (it stays in the later one).
//
// Penalty (decision: a bucket attribute rather than a separate block(key, until) call): when a
// bucket with `penalty > 0` rejects a reserve for being over its limit, the store blocks that
// bucket until now + penalty in the same atomic step, and every reserve touching it fails fast
// with Verdict::Blocked until then, even if its window has reset. Attempts made while blocked
// do not extend the block, so a client that keeps retrying is not locked out forever. One
// atomic operation means one Redis round trip and no race between "rejected" and "blocked".

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tg::store {

using TimePoint = std::chrono::system_clock::time_point;

enum class Algorithm : uint8_t { FixedWindow, SlidingWindow, TokenBucket, Concurrency, Quota };

struct BucketSpec {
  std::string key;  // caller-built, already scoped (rule, selector, value); any bytes
  Algorithm algorithm = Algorithm::FixedWindow;
  uint64_t limit = 0;  // units per window (capacity for TokenBucket, slots for Concurrency)
  std::chrono::milliseconds window{60'000};  // < 1 ms is taken as 1 ms (Concurrency: lease)
  std::chrono::milliseconds penalty{0};      // block after an over-limit rejection; 0 = none
  // Never leased (LeasedStore reserves it in the inner store per request); not part of the
  // bucket's identity. The policy's `lease: exact`.
  bool exact = false;
};

inline constexpr int64_t kUnlimited = INT64_MAX;  // BucketState::remaining of an unset quota

enum class ReserveMode : uint8_t {
  // Strict: a bucket admits when remaining >= max(amount, 1) and is charged `amount`. A
  // bucket in debt or exactly at its limit admits nothing, not even amount 0.
  Reserve,
  // Higress-compatible "check only, charge after": a bucket admits when remaining >= 0 (used
  // <= limit, Higress's `current > threshold` rejects) whatever the amount, and nothing is
  // charged; the caller settles the real usage afterwards. Concurrency buckets still take
  // their amount: an in-flight count cannot be charged after the fact.
  CheckOnly,
};

enum class Verdict : uint8_t {
  Admitted,    // this bucket had room (request level: every bucket had room, all charged)
  OverLimit,   // not enough remaining now; retryIn says when it would fit
  Blocked,     // penalty in force; retryIn is the end of the block
  TooLarge,    // amount > limit: can never fit, do not retry (never in CheckOnly mode)
  StoreFull,   // MemoryStore at its entry bound and this bucket is new: store failure policy
  StoreError,  // the store could not decide (never from MemoryStore; RedisStore: I/O error)
};

// How one bucket looks to the caller after a reserve: enough for x-ratelimit-* headers.
struct BucketState {
  Verdict verdict = Verdict::Admitted;
  uint64_t limit = 0;
  // Units left after this reserve's charge (before it, when nothing was charged). Negative in
  // debt. Higress mode reports the same quantity: limit - used. A Quota bucket without a
  // counter (unlimited) reports kUnlimited.
  int64_t remaining = 0;
  // Until the bucket is back to its initial state (OpenAI's x-ratelimit-reset-*): window end
  // for FixedWindow, when both windows have passed for SlidingWindow, when full for
  // TokenBucket, 0 for Concurrency and for a bucket with nothing used. Includes a penalty.
  std::chrono::milliseconds resetIn{0};
  // Rejected buckets only: until this request would fit by this bucket alone, or until the
  // block ends. 0 on a rejected Concurrency bucket means "unknown" (depends on other requests).
  std::chrono::milliseconds retryIn{0};
};

// The outcome of an operator's call (Store::peek, reset, adjust).
enum class StoreStatus : uint8_t {
  Ok,
  Unavailable,  // the store could not answer (Redis down, timeout, protocol error, full)
  Invalid,      // the stored value is not what the algorithm keeps, the change would overflow,
                // or the operation is not defined for the bucket's algorithm
};
const char* storeStatusName(StoreStatus s);  // "ok", "unavailable", "invalid"

// One bucket as an operator sees it now (Store::peek; reset and adjust answer the state they
// leave). Nothing in it is charged or changed by reading it.
struct BucketPeek {
  StoreStatus status = StoreStatus::Ok;
  std::string error;  // status != Ok: what went wrong, for logs and the admin API
  // Quota: a counter (a quota) is set; without one the consumer is unlimited. Other
  // algorithms: the bucket differs from a fresh one (something used, or blocked).
  bool present = false;
  uint64_t limit = 0;      // the spec's (0 for Quota)
  int64_t used = 0;        // limit - remaining (Quota: 0)
  int64_t remaining = 0;   // Quota: the remaining tokens (0 when not present); may be negative
  std::chrono::milliseconds resetIn{0};     // as BucketState::resetIn; includes a block
  std::chrono::milliseconds blockedFor{0};  // a penalty in force: until it ends

  bool ok() const { return status == StoreStatus::Ok; }
};

// Locator of a bucket inside a store (MemoryStore: the 128-bit keyed hash of key, algorithm
// and window). Opaque to callers; lets settle skip hashing the key again.
struct BucketId {
  uint64_t hi = 0;
  uint64_t lo = 0;
  friend bool operator==(const BucketId&, const BucketId&) = default;
};

// What one bucket of an admitted (or rejected) request holds: everything settle needs, so a
// Reservation is self-contained and the caller may drop its BucketSpecs after reserve.
struct Reservation {
  BucketSpec bucket;      // copy of the spec (the key is needed by RedisStore's settle)
  TimePoint windowStart;  // window charged (FixedWindow/SlidingWindow); else reserve time
  int64_t charged = 0;    // amount charged by reserve: 0 in CheckOnly mode or when rejected
  BucketState state;
  BucketId id;  // store-private
  // LeasedStore: the lease this was admitted from (settle goes into it while it is held); 0 =
  // charged to the store itself.
  uint64_t lease = 0;
};

struct ReserveResult {
  Verdict verdict = Verdict::Admitted;
  // Index (request order) of the bucket that decided a rejection: the first TooLarge one if
  // any, else the first OverLimit/Blocked one (Higress reports the first triggered rule),
  // else the first StoreFull/StoreError one. 0 when admitted.
  size_t decisiveIndex = 0;
  // Rejections: the longest retryIn over the rejecting buckets (when every one would fit).
  // 0 for TooLarge (never retry) and when unknown.
  std::chrono::milliseconds retryIn{0};
  std::vector<Reservation> reservations;  // one per bucket, in request order

  bool admitted() const { return verdict == Verdict::Admitted; }
};

}  // namespace tg::store
