#pragma once
// The Lua scripts that run the store algorithms (store/algorithm.h) atomically inside Redis,
// and the pure C++ around them: Redis key names, argument encoding, reply decoding. No I/O:
// RedisStore sends what these functions build through redis::Client, and tests run the scripts
// on a real redis-server and compare every result with MemoryStore's for the same operations.
//
// Semantics: EXACTLY those of store/store.h and store/algorithm.h (all-or-nothing reserve,
// Reserve/CheckOnly modes, penalties as a bucket attribute, settle rules per algorithm, debt,
// saturation at 2^62, clocks that step back treated as "no time passed"). Where Lua's numbers
// could lose precision (doubles above 2^53), the scripts keep integers below 2^53 and clamp;
// the difference from MemoryStore is documented where it applies.
//
// Keys: redisKeyFor(prefix, spec) = <prefix>{<tag>}<spec.key>|<algorithm>|<window ms>, one
// Redis hash per bucket (its counters and its block), given a PEXPIREAT at the bucket's idle
// expiry (store/algorithm.h idleExpiryMs, or the end of a block if later), so idle buckets
// disappear by themselves. The hash tag is the part of spec.key after its last ':' (the
// limiter's bucket keys end in the selector's value, escaped so it contains no ':', '{' or
// '}'), or the whole key when it has no ':'. So the buckets of ONE value (a consumer's minute
// and day windows) share a slot and are reserved in one script run, while different values
// (consumers, IPs) spread over the cluster: no policy is pinned onto one shard.
//
// Time: nowMs = 0 in the arguments means "use the Redis server's TIME" (production: every
// gateway instance then agrees on window boundaries whatever its own clock); tests pass an
// explicit nowMs to step time exactly. The reply carries the time used.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/bucket.h"

namespace tg::redis {

std::string_view reserveScriptText();
std::string_view settleScriptText();
std::string_view peekScriptText();

// The hash tag of a bucket key (see above), without braces.
std::string_view hashTagOf(std::string_view bucketKey);
std::string redisKeyFor(std::string_view prefix, const store::BucketSpec& spec);

// ---- reserve ------------------------------------------------------------------------------
// KEYS: redisKeyFor(...) of each bucket, in request order.
// ARGV: mode (0 Reserve, 1 CheckOnly), nowMs (0 = server TIME), then per bucket: algorithm
// (store::Algorithm as integer), limit, windowMs, penaltyMs, amount.
// Reply: a flat integer array: verdict, decisiveIndex, retryInMs, nowMsUsed, then per bucket:
// verdict, charged, windowStartMs, remaining, resetInMs, retryInMs.
void appendReserveArgs(std::span<const store::BucketSpec> buckets,
                       std::span<const int64_t> amounts, store::ReserveMode mode, int64_t nowMs,
                       std::vector<std::string>& argv);
// Fills `out` (reservations: bucket copies, windowStart, charged, state; id left zero).
// False when `values` is not a well-formed reply for `buckets`.
bool parseReserveReply(std::span<const int64_t> values, std::span<const store::BucketSpec> buckets,
                       store::ReserveResult& out);

// ---- settle -------------------------------------------------------------------------------
// KEYS: redisKeyFor(...) of each reservation's bucket. ARGV: nowMs (0 = server TIME), then per
// reservation: algorithm, limit, windowMs, windowStartMs, delta. Reply: integer 1.
void appendSettleArgs(std::span<const store::Reservation> reservations,
                      std::span<const int64_t> deltas, int64_t nowMs,
                      std::vector<std::string>& argv);

// ---- peek (operators: usage, remaining, reset of one bucket, nothing changed) --------------
// KEYS: one key. ARGV: nowMs (0 = server TIME), algorithm, limit, windowMs.
// Reply: flat integers: used (limit - remaining), remaining, resetInMs, blockedForMs.
void appendPeekArgs(const store::BucketSpec& bucket, int64_t nowMs, std::vector<std::string>& argv);

}  // namespace tg::redis
