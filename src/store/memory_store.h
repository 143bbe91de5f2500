#pragma once
// MemoryStore: the embedded Store, for one gateway process. Thread-safe: every method may be
// called from any worker thread at any time. Buckets are spread over N shards by their 128-bit
// keyed hash (key_hash.h); each shard is a mutex and a BucketTable (open addressing, 56 bytes
// per slot, no key stored, no allocation per bucket).
//
// Atomicity: reserve locks every shard its buckets live in, in ascending shard order (so two
// requests with overlapping buckets cannot deadlock), runs the whole all-or-nothing decision
// (algorithm.h) with rollback, and unlocks. A request with one bucket takes one mutex; settle
// takes one shard at a time (it has no all-or-nothing requirement).
//
// Time never goes backwards inside a shard: each shard keeps the latest `now` it has run at and
// uses max(now, latest). Without this, a thread whose clock read is a few microseconds older
// than another's could find a bucket of the just-closed window already forgotten and count
// that window again from zero (the concurrency test ChargedNeverExceedsTheLimitPerWindow caught
// exactly this). A clock stepped backwards therefore changes nothing until it catches up.
//
// Expiry: a bucket is forgotten once its counters are equivalent to a fresh bucket's (window
// over with nothing to carry, token bucket full, nothing in flight) and no penalty is in force,
// so forgetting loses nothing. Expired entries are reclaimed lazily: found ones are reset, each
// operation sweeps `sweepPerOperation` slots of each shard it touched, and sweep() lets the
// owner reclaim idle shards periodically (optional; memory stays bounded without it).
//
// Memory bound (decision): at most `maxEntries` live buckets, split evenly over the shards
// (ceil(maxEntries / shards) each; keys hash uniformly). A reserve that needs a NEW bucket in a
// shard that is full of live buckets (after reclaiming expired ones) gets Verdict::StoreFull
// for that bucket and charges nothing; the limiter applies its store-failure policy (open,
// closed) and counts it. We do not evict live buckets: a client that mints fresh keys could
// then evict other callers' counters and reset their usage, a bypass. Existing buckets keep
// working when the store is full. A settle that would need a new bucket then is dropped and
// counted (settleDropped).
//
// Cost: one reserve+settle pair of one bucket is two uncontended mutex acquisitions, one
// SipHash of the key and two probes; see bench/store.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "store/bucket.h"
#include "store/key_hash.h"
#include "store/stats.h"
#include "store/store.h"

namespace tg::store {

struct Params;  // store/algorithm.h
struct Entry;   // store/bucket_table.h

struct MemoryStoreOptions {
  size_t shards = 64;            // rounded up to a power of two, at least 1
  size_t maxEntries = 1 << 20;   // live buckets, over all shards
  size_t sweepPerOperation = 2;  // slots examined per touched shard per operation
  // Hash secret; {0, 0} = random per store (production). Tests may fix it.
  HashKey hashKey;
  // Metrics (store/stats.h): every call counted, StoreFull errors; not timed (a clock read
  // would cost more than the call). Null = none. Must outlive the store.
  StoreStats* stats = nullptr;
};

// Counters as data (STYLE.md rule 14): summed over shards by stats(). Monotonic except
// entries / slots / bytes.
struct MemoryStoreStats {
  uint64_t entries = 0;           // live (not yet reclaimed) buckets
  uint64_t slots = 0;             // allocated slots
  uint64_t bytes = 0;             // slot arrays + shard structs
  uint64_t reservesAdmitted = 0;  // requests (counted on the shard of their first bucket)
  uint64_t reservesRejected = 0;  // requests rejected: OverLimit, Blocked, TooLarge
  uint64_t reservesStoreFull = 0;
  uint64_t penaltiesStarted = 0;  // buckets blocked by their penalty
  uint64_t settles = 0;           // reservations settled with a non-zero delta
  uint64_t settleDropped = 0;     // extra charges lost because the store was full
  uint64_t expiredReclaimed = 0;  // entries removed by sweeps
};

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(MemoryStoreOptions options = {});
  ~MemoryStore() override;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  // store::Store
  void reserveInto(std::span<const BucketSpec> buckets, std::span<const int64_t> amounts,
                   ReserveMode mode, TimePoint now, ReserveResult& out) override;
  void settle(std::span<const Reservation> reservations, std::span<const int64_t> deltas,
              TimePoint now) override;
  // Operators (all inline: `done` is never called). A quota set by adjust counts towards
  // maxEntries and is never forgotten until reset; adjust answers Unavailable when a new one
  // does not fit.
  bool peek(std::span<const BucketSpec> buckets, TimePoint now, std::vector<BucketPeek>& out,
            std::function<void()> done) override;
  bool reset(std::span<const BucketSpec> buckets, TimePoint now, std::vector<BucketPeek>& out,
             std::function<void()> done) override;
  bool adjust(const BucketSpec& bucket, Adjust how, int64_t value, TimePoint now,
              BucketPeek& out, std::function<void()> done) override;

  // Reclaims expired buckets, examining up to `slotsPerShard` slots of every shard (one shard
  // locked at a time). Returns the number removed. For a periodic timer (e.g. every second
  // with a few thousand slots); optional.
  size_t sweep(TimePoint now, size_t slotsPerShard = SIZE_MAX);

  MemoryStoreStats stats() const;

  // One bucket's state at `now`, nothing changed (peek for one bucket, for tests and tools).
  BucketPeek peekOne(const BucketSpec& spec, TimePoint now);

  // Bytes of one slot; a live bucket costs bytesPerSlot() / load, load in (3/8, 3/4].
  static size_t bytesPerSlot();

 private:
  struct Shard;
  static BucketPeek peekEntry(const BucketSpec& spec, const Params& p, const Entry* e,
                              int64_t nowMs);
  // Shard from the high word, slot (BucketTable) from the low word: independent bits.
  size_t shardOf(const BucketId& id) const { return static_cast<size_t>(id.hi) & shardMask_; }

  MemoryStoreOptions options_;
  size_t shardCount_;
  size_t shardMask_;
  HashKey hashKey_;
  StoreRecorder recorder_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace tg::store
