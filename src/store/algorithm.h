#pragma once
// The rate-limit algorithms (and the Quota counter) as pure functions over one bucket's counters. Every store
// runs exactly this math inside its atomic step (MemoryStore under a shard mutex; RedisStore
// will mirror it in its Lua scripts, and its tests compare against these functions), so the
// algorithms live once (STYLE.md rule 11). No clock, no locks, no allocation: times are
// milliseconds since the Unix epoch, passed in.
//
// Counters, per algorithm (three int64 so that a store entry stays small):
//
//   algorithm      stampMs                 current                    previous
//   FixedWindow    start of current window used in it                 used in previous window
//   SlidingWindow  start of current window used in it                 used in previous window
//   TokenBucket    last refill             whole-token balance        fractional balance, in
//                                          (floor; may be negative)   1/windowMs token units,
//                                                                     in [0, windowMs)
//   Concurrency    last reserve/settle     in flight                  unused
//   Quota          unused                  remaining tokens (int64,   unused
//                                          may be negative)
//
// Windows are [k*W, (k+1)*W) on the epoch. A token bucket refills `limit` per `windowMs`; the
// balance is kept exactly as current + previous/windowMs (no floating point, no drift), so
// "back to 1 token after 600 ms" at 100 per minute is exact to the millisecond.
//
// Admission needs `need` units: remaining >= need, where need = max(amount, 1) in Reserve mode
// (an exhausted bucket admits nothing, even a zero reservation) and 0 in CheckOnly mode
// (Higress: admit while used <= limit). remaining for SlidingWindow is
//   limit - current - ceil(previous * (W - elapsed) / W)
// i.e. the exact weighted formula, rounded so that `amount <= remaining` is exactly
// `previous*(1 - elapsed/W) + current + amount <= limit`.
//
// Quota: need is 1 in both modes (admitted while remaining > 0), nothing is charged at reserve
// (chargesIn is false), settle subtracts the delta, no limit ever makes it TooLarge, and its
// counters never expire (idleExpiryMs = kNeverMs). Whether a counter exists at all (no quota =
// unlimited) is the store's business: these functions see only existing counters.
//
// Counts saturate at +-2^62 and limits are clamped to 2^62, so no input overflows (Quota
// counters: the whole int64 range, saturating at its ends).
// A clock that steps backwards is treated as "no time passed" (windows never move back).

#include <cstdint>

#include "store/bucket.h"

namespace tg::store {

inline constexpr int64_t kMaxCount = int64_t{1} << 62;
inline constexpr int64_t kNeverMs = INT64_MAX;  // retry time of a request that can never fit

struct Params {
  Algorithm algorithm = Algorithm::FixedWindow;
  int64_t limit = 0;     // [0, kMaxCount]
  int64_t windowMs = 1;  // >= 1; Concurrency: >= 0, 0 = no lease
};

struct Counters {
  int64_t stampMs = 0;
  int64_t current = 0;
  int64_t previous = 0;
};

Params paramsFor(const BucketSpec& spec);
int64_t toMillis(TimePoint t);  // floor to milliseconds since the epoch

// Units a request needs a bucket to have (see above).
int64_t needFor(ReserveMode mode, Algorithm algorithm, int64_t amount);
// Whether the bucket charges the amount in this mode (CheckOnly charges only Concurrency).
bool chargesIn(ReserveMode mode, Algorithm algorithm);
// A request needing `need` can never fit, whatever the state: need > limit.
bool neverFits(const Params& p, int64_t need);

// Start of the aligned window containing nowMs (FixedWindow, SlidingWindow); nowMs otherwise.
int64_t windowStartMs(const Params& p, int64_t nowMs);
// The state of a bucket never seen before (or idle long enough to be forgotten).
Counters freshCounters(const Params& p, int64_t nowMs);
// Brings counters to nowMs: rolls windows, refills tokens. Idempotent for a given nowMs.
void advance(const Params& p, Counters& c, int64_t nowMs);

// The functions below expect advance(p, c, nowMs) first.
int64_t remaining(const Params& p, const Counters& c, int64_t nowMs);
void charge(const Params& p, Counters& c, int64_t amount, int64_t nowMs);
// Undoes charge(amount) of the same operation (all-or-nothing rollback). Exact.
void uncharge(const Params& p, Counters& c, int64_t amount);
// Settlement rule of store.h for the reservation's window start (ignored by TokenBucket and
// Concurrency).
void settleInto(const Params& p, Counters& c, int64_t reservedWindowStartMs, int64_t delta,
                int64_t nowMs);
// Milliseconds until remaining >= need: 0 if it fits now, kNeverMs if it never will (limit too
// small, or a TokenBucket in debt with limit 0). Concurrency: 0 (unknown).
int64_t retryInMs(const Params& p, const Counters& c, int64_t nowMs, int64_t need);
// Milliseconds until the bucket is back to its initial state (BucketState::resetIn).
int64_t resetInMs(const Params& p, const Counters& c, int64_t nowMs);
// First time at which the counters are equivalent to freshCounters(): a store may forget the
// bucket then and lose nothing. Concurrency: when the count is 0, else stamp + lease.
int64_t idleExpiryMs(const Params& p, const Counters& c, int64_t nowMs);

}  // namespace tg::store
