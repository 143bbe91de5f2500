#pragma once
// Store: the seam between the limiter and where bucket counters live (MemoryStore in process;
// RedisStore, shared across gateway instances). Thin on purpose (STYLE.md rule 11): a store
// implements two atomic request-path operations (reserve, settle) and three operator ones
// (peek, reset, adjust) over the algorithms of store/algorithm.h, and nothing else; keys,
// thresholds, reservation sizing, headers, and which buckets a consumer has are limiter/'s
// business. Quotas (Algorithm::Quota) are buckets of this same store: there is no other.
//
// Contract for every implementation:
//   * reserve is ALL-OR-NOTHING across the buckets of one request: either every bucket admits
//     (see ReserveMode) and all are charged, or none is charged. Concurrent reserves are
//     serialised per bucket, so N concurrent requests can never all see the same remaining
//     budget: with mode Reserve the sum charged in a window never exceeds the limit.
//     A rejection still reports every bucket's state and which bucket decided.
//   * settle adds `delta` (a refund when negative) to exactly the bucket instance the
//     reservation was charged to, allowing debt:
//       - FixedWindow/SlidingWindow: the window recorded in the reservation. If that window
//         is no longer counted (FixedWindow: any earlier window; SlidingWindow: older than the
//         previous one), a refund is dropped (it cannot give budget to a later window) and an
//         extra charge goes to the current window (tokens are never lost to a boundary; a long
//         stream admitted at 0:59 is charged at 1:00, as Higress, which charges at the end).
//       - TokenBucket: the balance (refill first), a refund never beyond the capacity.
//       - Concurrency: the in-flight count, never below zero.
//       - Quota: remaining -= delta (into debt), only when a counter exists: a settle never
//         creates a quota (no quota = unlimited).
//     Settle never fails and never rejects; a delta of 0 is a no-op.
//   * Quota buckets: a bucket without a counter admits (unlimited; its state reports remaining
//     = kUnlimited), one with a counter admits while remaining > 0 (OverLimit otherwise,
//     retryIn 0: no wait fixes it); reserve never charges nor creates one. A reserve holding a
//     Quota bucket holds only that bucket (RedisStore keeps quotas as plain integers that the
//     batch script does not run; it answers StoreError for a mix).
//   * amounts / deltas are matched to buckets / reservations by index; a missing one counts
//     as 0 and a negative amount as 0.
//   * reserveInto and settle complete inline and are safe to call from any thread. A store
//     that lives across the network (RedisStore) cannot decide inline: the request path uses
//     reserveStart, which completes inline when it can (MemoryStore always) and otherwise
//     calls `done` later, on the calling worker's thread. settle never waits for the network
//     (RedisStore sends it and does not wait for the answer: settlement is off the client's
//     path).
//   * A store that cannot decide answers Verdict::StoreError for the buckets concerned and
//     charges nothing; the limiter then applies each policy's failure mode.
//   * Operators (the admin API): peek reads buckets without changing anything; reset forgets
//     them (the next use starts fresh; a Quota bucket is removed: unlimited again); adjust
//     sets a Quota counter (Adjust::Set) or adds to it (Adjust::Add: an unset one starts from
//     0), and answers StoreStatus::Invalid for the other algorithms (their counters follow
//     their windows) and for a change that would overflow int64 (nothing is changed then).
//     Each answers one BucketPeek per bucket, with status Unavailable (and nothing changed, as
//     far as the store can tell) when the store could not answer. They are asynchronous like
//     reserveStart: true = complete inline (`done` never called), false = `done` is called
//     once, later, on the calling thread; `buckets` and `out` must stay valid until then.
//     MemoryStore always completes inline; RedisStore never does.

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "store/bucket.h"

namespace tg::store {

class Store {
 public:
  virtual ~Store() = default;

  // Reserves `amounts[i]` in `buckets[i]` for every i, atomically, at wall time `now`, and
  // writes the outcome to `out` (reusing its capacity: a caller that keeps one ReserveResult
  // per connection allocates nothing per request).
  virtual void reserveInto(std::span<const BucketSpec> buckets, std::span<const int64_t> amounts,
                           ReserveMode mode, TimePoint now, ReserveResult& out) = 0;

  ReserveResult reserve(std::span<const BucketSpec> buckets, std::span<const int64_t> amounts,
                        ReserveMode mode, TimePoint now) {
    ReserveResult out;
    reserveInto(buckets, amounts, mode, now, out);
    return out;
  }

  // The request path's reserve: true when the outcome is already in `out` (`done` is then
  // never called); false when it will be, and `done` is called once, later, on the calling
  // thread. `buckets`, `amounts` and `out` must stay valid until then. Default: reserveInto.
  virtual bool reserveStart(std::span<const BucketSpec> buckets, std::span<const int64_t> amounts,
                            ReserveMode mode, TimePoint now, ReserveResult& out,
                            std::function<void()> done) {
    (void)done;
    reserveInto(buckets, amounts, mode, now, out);
    return true;
  }

  // True when reserveStart always completes inline (MemoryStore): the request path then calls
  // reserveInto directly and never suspends.
  virtual bool decidesInline() const { return true; }

  // Applies `deltas[i]` to the bucket instance of `reservations[i]` (see the contract above).
  // Reservations come from an admitted ReserveResult of this store. In CheckOnly mode they
  // carry charged == 0 and settle charges the whole usage after the fact.
  virtual void settle(std::span<const Reservation> reservations, std::span<const int64_t> deltas,
                      TimePoint now) = 0;

  // ---- operators (see the contract above) ----
  // One BucketPeek per bucket in `out` (resized to buckets.size()), at wall time `now`.
  virtual bool peek(std::span<const BucketSpec> buckets, TimePoint now,
                    std::vector<BucketPeek>& out, std::function<void()> done) = 0;
  // Forgets the buckets; `out` reports each as fresh (or the failure).
  virtual bool reset(std::span<const BucketSpec> buckets, TimePoint now,
                     std::vector<BucketPeek>& out, std::function<void()> done) = 0;
  enum class Adjust : uint8_t { Set, Add };
  // Quota buckets: remaining = value (Set) or remaining += value (Add); `out` is the state
  // after the change.
  virtual bool adjust(const BucketSpec& bucket, Adjust how, int64_t value, TimePoint now,
                      BucketPeek& out, std::function<void()> done) = 0;

  // ---- what a store holds locally (LeasedStore's leases; nothing for the others) ----
  // Periodic upkeep on the worker's thread: gives back what expired. Answers when to call it
  // again (0 = never: the store holds nothing locally).
  virtual std::chrono::milliseconds tick(TimePoint now) {
    (void)now;
    return std::chrono::milliseconds(0);
  }
  // Gives back everything held locally so other instances can use it (config reload).
  virtual void release(TimePoint now) { (void)now; }

  // The worker has nothing left to serve (graceful shutdown): a networked store sends what it
  // still holds (queued settles), then closes its connections once they are answered, so the
  // worker's event loop can end. Nothing is reserved after this. Default: nothing to do.
  virtual void stop() {}
};

}  // namespace tg::store
