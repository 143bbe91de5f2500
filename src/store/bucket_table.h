#pragma once
// BucketTable: one MemoryStore shard's buckets, an open-addressing hash table (linear probing,
// backward-shift deletion, no tombstones) keyed by the 128-bit BucketId. NOT thread-safe: the
// owning shard's mutex guards it.
//
// Memory: one 56-byte Entry per slot, no per-entry allocation, no key stored (see
// key_hash.h). Capacity is a power of two, grown by doubling while size <= 3/4 capacity, and
// never beyond the capacity that holds `maxEntries` at that load: memory is bounded by
// construction. The slot array is allocated on first insert (an idle shard costs nothing) and
// never shrinks. Bytes per live bucket = 56 / load, i.e. 75 to 150 bytes.
//
// Expiry: every entry carries expiresAtMs, the time after which its counters are equivalent
// to a fresh bucket's (algorithm.h idleExpiryMs) or its penalty has ended, whichever is later.
// An expired entry is reclaimed lazily: the store resets one it finds, sweep() removes a few
// per operation round-robin, and prepare() removes all of them when the table is at its bound
// and some entry may have expired (minExpiry_ is a lower bound on every live expiresAtMs, so a
// full table of live entries rejects at once instead of rescanning on every insert).
//
// Pointer stability: entries move only in prepare(), sweep() and growth inside prepare(). A
// caller that prepare()s for its inserts first can hold Entry pointers across findOrInsert()
// calls of one operation.

#include <cstddef>
#include <cstdint>
#include <memory>

#include "store/algorithm.h"
#include "store/bucket.h"

namespace tg::store {

struct Entry {
  BucketId id;  // {0, 0} = empty slot
  int64_t expiresAtMs = 0;
  int64_t blockedUntilMs = 0;  // 0 = not blocked
  Counters counters;
};

class BucketTable {
 public:
  explicit BucketTable(size_t maxEntries = 1) { setMaxEntries(maxEntries); }
  BucketTable(const BucketTable&) = delete;
  BucketTable& operator=(const BucketTable&) = delete;

  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  size_t maxEntries() const { return maxEntries_; }
  size_t bytes() const { return capacity_ * sizeof(Entry); }
  // Sets the entry bound (at least 1). Only while the table is empty.
  void setMaxEntries(size_t maxEntries);

  Entry* find(const BucketId& id);

  // Makes room for up to `inserts` findOrInsert() calls that follow, so that none of them
  // moves an entry: grows the array (up to the bound) and, at the entry bound, removes expired
  // entries if any may have expired by nowMs. Returns the number of entries removed.
  size_t prepare(size_t inserts, int64_t nowMs);

  // The entry for id, inserted zeroed (id set) if absent; *inserted tells which. nullptr when
  // the table is at its entry bound, or when more inserts follow than were prepared.
  Entry* findOrInsert(const BucketId& id, bool* inserted);

  // Records that an entry's expiresAtMs was set (keeps the minExpiry_ lower bound).
  void noteExpiry(int64_t expiresAtMs) {
    if (expiresAtMs < minExpiry_) {
      minExpiry_ = expiresAtMs;
    }
  }

  // Examines up to `slots` slots from a round-robin cursor and removes the expired entries
  // among them (all of them when slots >= capacity). Moves entries. Returns the number removed.
  size_t sweep(int64_t nowMs, size_t slots);

 private:
  static bool empty(const Entry& e) { return e.id.hi == 0 && e.id.lo == 0; }
  size_t home(const BucketId& id) const { return static_cast<size_t>(id.lo) & mask_; }
  bool fits(size_t count, size_t capacity) const { return count <= capacity / 4 * 3; }
  void rehash(size_t capacity);
  void eraseAt(size_t slot);
  size_t sweepAll(int64_t nowMs);

  std::unique_ptr<Entry[]> slots_;
  size_t capacity_ = 0;
  size_t mask_ = 0;
  size_t size_ = 0;
  size_t maxEntries_ = 1;
  size_t maxCapacity_ = 0;
  size_t cursor_ = 0;
  int64_t minExpiry_ = INT64_MAX;
};

}  // namespace tg::store
