#pragma once
// The Lua scripts that run the store algorithms (store/algorithm.h) atomically inside Redis,
// and the pure C++ around them: Redis key names, argument encoding, reply decoding. No I/O:
// RedisStore sends what these functions build through redis::Client, and tests run the scripts
// on a real redis-server and compare every result with MemoryStore's for the same operations.
//
// Semantics: EXACTLY those of store/store.h and store/algorithm.h (all-or-nothing reserve,
// Reserve/CheckOnly modes, penalties as a bucket attribute, settle rules per algorithm, debt,
// clocks that step back treated as "no time passed"). Lua's numbers are doubles, exact only
// below 2^53, so the scripts keep every integer below 2^53 (products are computed by an exact
// long division in Lua) and clamp instead of MemoryStore's 2^62:
//   * limits, amounts, windows and penalties above kScriptMaxCount (2^50: 10^15 tokens,
//     35,000 years) are clamped to it by Batch (and appendPeekArgs), and counts saturate at
//     +-2^50 instead of +-2^62;
//   * a TokenBucket wait of 2^52 ms or more is reported as "never" (kNeverMs), not its value.
// Neither is reachable by a real configuration; below these bounds results are identical.
//
// Quota buckets (store::Algorithm::Quota) are not run by these scripts: redisKeyFor gives them
// <prefix>quota:{<spec.key>} (the consumer is the hash tag), a plain integer string that
// RedisStore reads and writes with GET / SET / INCRBY / DECRBY / DEL and the quota charge
// script below, exactly as Higress's ai-quota plugin does.
//
// Keys: redisKeyFor(prefix, spec) = <prefix>{<tag>}<spec.key>|<algorithm>|<window ms>, one
// Redis string per bucket (its counters and its block, below), set with PXAT at the bucket's
// idle expiry (store/algorithm.h idleExpiryMs, or the end of a block if later), so idle buckets
// disappear by themselves. The hash tag is the part of spec.key after its last ':' (the
// limiter's bucket keys end in the selector's value, escaped so it contains no ':', '{' or
// '}'), or the whole key when it has no ':'. So the buckets of ONE value (a consumer's minute
// and day windows) share a slot and are reserved in one script run, while different values
// (consumers, IPs) spread over the cluster: no policy is pinned onto one shard. A key ending in
// ':' gives the empty tag "{}", which Redis Cluster ignores (the whole key is hashed). The
// prefix must not contain '{'.
//
// Value: six little-endian IEEE doubles (48 bytes; Lua's struct.pack '<dddddd', every one an
// integer below 2^53): s, c, p = store/algorithm.h Counters (stampMs, current, previous);
// b = blocked until (ms, 0 = none); x = the bucket's expiry on the operations' clock (-1 =
// never); t = the latest time an operation on the bucket ran at (see below). Packed rather than
// a hash of decimal fields because reading and writing it whole costs a third as much inside
// Redis (no number formatting or parsing); operators read buckets through peek (the admin
// API). A script never creates a bucket for a refund to one that does not exist. The scripts
// need Lua's `struct` library, which Redis has shipped since 2.6 (and Valkey keeps).
//
// Time: nowMs = 0 in the arguments means "use the Redis server's TIME" (production: every
// gateway instance then agrees on window boundaries whatever its own clock); tests pass an
// explicit nowMs to step time exactly. The reply carries the time used. Expiry is a PXAT (or,
// when already due, a PEXPIREAT that deletes at once) on that same clock, so an explicit nowMs
// far from the Redis server's clock makes keys live too long (future) or vanish at once
// (past): explicit times are for tests and must be close to, or ahead of, the server's clock.
// The value also records the expiry (x): a bucket found past it starts fresh, as in
// MemoryStore, whether or not Redis has deleted it yet.
//
// Clocks that step back: MemoryStore never lets time go back within a shard (max of now and
// the shard's latest time). Redis has no clock shared across slots, so the scripts keep the
// latest time per bucket (field t), run a request at max(nowMs, t of each of its buckets) and
// store that time in all of them: MemoryStore's rule with one shard per bucket (the property
// test compares exactly that). The time goes with the bucket when Redis deletes it (idle, as
// good as fresh), so a clock that then steps back starts the fresh bucket at the earlier time;
// nothing counted is lost. With nowMs = 0 the Redis server's own clock rarely steps back.
//
// Waits that are "never" (store::kNeverMs, e.g. a TokenBucket of limit 0 in debt) travel as -1
// in replies; parseReserveReply maps them back.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "redis/client.h"
#include "store/bucket.h"

namespace tg::redis {

// Largest limit, amount, delta, window and penalty the scripts take (see above): 2^50.
inline constexpr int64_t kScriptMaxCount = int64_t{1} << 50;

std::string_view batchScriptText();
std::string_view peekScriptText();
// Quota settle: KEYS[1] a quota key, ARGV[1] the tokens; DECRBY only when the key exists.
std::string_view quotaChargeScriptText();

// The three scripts above as one Redis Functions library (Redis 7+), which redis::Client loads
// on every connection (client.h, Redis Functions) and calls with FCALL instead of EVALSHA:
//   #!lua name=tokengate_<h>
//   redis.register_function{function_name='tokengate_<h>_batch',
//                           callback=function(KEYS, ARGV) <batchScriptText()> end}
//   ... '_peek' (flags no-writes: it writes nothing, so it runs where EVAL of it did: under
//   maxmemory, on a replica) and '_quota_charge'.
// Each callback's body is the script's whole text (KEYS and ARGV are the callback's
// parameters, not globals), so a function computes exactly what EVAL of the same script does.
// <h> is the first 12 hex digits
// of the SHA1 of the library's code (with an empty name): any change to a script gives the
// library and its functions new names, and gateways of two versions sharing one Redis each
// find their own. Older versions' libraries stay loaded until deleted (FUNCTION DELETE).
const FunctionLibrary& storeFunctionLibrary();

// The hash tag of a bucket key (see above), without braces.
std::string_view hashTagOf(std::string_view bucketKey);
std::string redisKeyFor(std::string_view prefix, const store::BucketSpec& spec);

// ---- batch: reserve and settle operations in one script run ---------------------------------
// One run of the batch script performs a sequence of operations, in order, exactly as
// separate runs of one operation each would at the same nowMs, reading each bucket's hash
// once and writing it once. All keys of a run must share a cluster slot.
// KEYS: the distinct keys of the batch.
// ARGV[1]: nowMs in decimal (0 = server TIME).
// ARGV[2]: little-endian IEEE doubles (struct.unpack; every value an integer, exact):
//   D, then D bucket descriptors: key index (1-based into KEYS), algorithm, limit, windowMs,
//   penaltyMs (normalised like store::paramsFor, clamped to kScriptMaxCount); then the
//   operations, each: kind (0 Reserve, 1 CheckOnly, 2 Settle), bucket count n, and per bucket
//     reserve: descriptor index (1-based), amount
//     settle:  descriptor index, windowStartMs, delta
// Reply: a flat integer array, the replies of the reserve operations one after the other
// (settles reply nothing): per reserve, reserveReplySize(n) values: verdict, decisiveIndex,
// retryInMs, nowMsUsed, then per bucket: verdict, charged, windowStartMs, remaining,
// resetInMs, retryInMs.
class Batch {
 public:
  Batch();
  void clear();

  // keys[i] = redisKeyFor(...) of buckets[i] (or of reservations[i]); keys.size() must be
  // buckets.size() (reservations.size()). Missing amounts and deltas count as 0.
  void addReserve(std::span<const std::string> keys, std::span<const store::BucketSpec> buckets,
                  std::span<const int64_t> amounts, store::ReserveMode mode);
  void addSettle(std::span<const std::string> keys,
                 std::span<const store::Reservation> reservations,
                 std::span<const int64_t> deltas);

  size_t ops() const { return opCount_; }
  size_t replyValues() const { return replyValues_; }  // integers the reply must hold
  const std::vector<std::string>& keys() const { return keys_; }
  std::vector<std::string> argv(int64_t nowMs = 0) const;
  // The keys, moved out: the batch must be cleared before it is used again.
  std::vector<std::string> takeKeys() { return std::move(keys_); }

 private:
  struct Desc {
    size_t key;
    int64_t algorithm, limit, windowMs, penaltyMs;
    bool operator==(const Desc&) const = default;
  };
  size_t descriptor(const std::string& key, const store::BucketSpec& spec);

  std::vector<std::string> keys_;
  struct KeyEntry {
    size_t index;      // into keys_
    size_t firstDesc;  // its first descriptor
  };
  std::unordered_map<std::string, KeyEntry> keyIndex_;
  std::vector<Desc> descs_;
  std::string ops_;
  size_t opCount_ = 0;
  size_t replyValues_ = 0;
};

constexpr size_t reserveReplySize(size_t buckets) { return 4 + 6 * buckets; }

// Fills `out` from one reserve operation's part of a reply (reservations: bucket copies,
// windowStart, charged, state; id left zero). False when `values` is not a well-formed reply
// for `buckets`.
bool parseReserveReply(std::span<const int64_t> values, std::span<const store::BucketSpec> buckets,
                       store::ReserveResult& out);

// ---- peek (operators: usage, remaining, reset of one bucket, nothing changed) --------------
// KEYS: one key. ARGV: nowMs (0 = server TIME), algorithm, limit, windowMs.
// Reply: flat integers: used (limit - remaining), remaining, resetInMs, blockedForMs.
void appendPeekArgs(const store::BucketSpec& bucket, int64_t nowMs, std::vector<std::string>& argv);

}  // namespace tg::redis
