#include "store/memory_store.h"

#include <algorithm>
#include <array>
#include <bit>

#include "core/thread_annotations.h"
#include "store/algorithm.h"
#include "store/bucket_table.h"

namespace tg::store {

using core::Mutex;
using core::MutexLock;

struct alignas(64) MemoryStore::Shard {
  Mutex mu;
  BucketTable table TG_GUARDED_BY(mu);
  // The latest time any operation on this shard ran at: time never goes backwards here.
  int64_t clockMs TG_GUARDED_BY(mu) = INT64_MIN;
  uint64_t admitted TG_GUARDED_BY(mu) = 0;
  uint64_t rejected TG_GUARDED_BY(mu) = 0;
  uint64_t storeFull TG_GUARDED_BY(mu) = 0;
  uint64_t penalties TG_GUARDED_BY(mu) = 0;
  uint64_t settles TG_GUARDED_BY(mu) = 0;
  uint64_t settleDropped TG_GUARDED_BY(mu) = 0;
  uint64_t expired TG_GUARDED_BY(mu) = 0;
};

namespace {

// Per-call scratch: inline for the usual handful of buckets, heap beyond.
template <typename T, size_t N>
class Scratch {
 public:
  explicit Scratch(size_t n) {
    if (n > N) {
      heap_ = std::make_unique<T[]>(n);
    }
  }
  T* data() { return heap_ ? heap_.get() : inline_.data(); }
  T& operator[](size_t i) { return data()[i]; }

 private:
  std::array<T, N> inline_;  // default-initialised: callers write every element they use
  std::unique_ptr<T[]> heap_;
};

// One bucket of a reserve while it runs. No initialisers of its own, so that the inline
// scratch is nearly free to create; the first loop of reserveInto writes every field.
struct Work {
  Params params;
  BucketId id;
  size_t shard;
  int64_t amount;
  int64_t need;
  bool charges;
  Entry* entry;
  Verdict verdict;
  int64_t charged;
  int64_t windowStartMs;
  int64_t remaining;
  int64_t resetMs;
  int64_t retryMs;
};

constexpr size_t kInline = 8;

int64_t addClamped(int64_t a, int64_t b) { return b > kNeverMs - a ? kNeverMs : a + b; }

// The entry's counters as of nowMs: a missing-in-effect (expired) entry starts fresh.
void refresh(Entry& e, const Params& p, bool inserted, int64_t nowMs) {
  if (inserted || e.expiresAtMs <= nowMs) {
    e.counters = freshCounters(p, nowMs);
    e.blockedUntilMs = 0;
    e.expiresAtMs = kNeverMs;  // pending: set at the end of the operation
  }
  advance(p, e.counters, nowMs);
}

// A Quota bucket's counter, or nullptr when it has none (reset marks it expired).
Entry* liveQuota(BucketTable& table, const BucketId& id, int64_t nowMs) {
  Entry* e = table.find(id);
  return (e != nullptr && e->expiresAtMs > nowMs) ? e : nullptr;
}

void setExpiry(BucketTable& table, Entry& e, const Params& p, int64_t nowMs) {
  e.expiresAtMs = std::max(idleExpiryMs(p, e.counters, nowMs), e.blockedUntilMs);
  table.noteExpiry(e.expiresAtMs);
}

}  // namespace

MemoryStore::MemoryStore(MemoryStoreOptions options)
    : options_(options),
      recorder_(options.stats, StoreKind::Memory, {},
                {StoreOp::Reserve, StoreOp::Settle, StoreOp::Adjust}, {StoreError::Full}) {
  shardCount_ = std::bit_ceil(std::max<size_t>(options_.shards, 1));
  shardMask_ = shardCount_ - 1;
  hashKey_ =
      (options_.hashKey.k0 == 0 && options_.hashKey.k1 == 0) ? randomHashKey() : options_.hashKey;
  size_t perShard = (std::max<size_t>(options_.maxEntries, 1) + shardCount_ - 1) / shardCount_;
  shards_ = std::make_unique<Shard[]>(shardCount_);  // over-aligned new[]: one line each
  for (size_t i = 0; i < shardCount_; ++i) {
    MutexLock lock(shards_[i].mu);
    shards_[i].table.setMaxEntries(perShard);
  }
}

MemoryStore::~MemoryStore() = default;

// Locks a dynamic set of shards in sorted order, which the analysis cannot follow.
TG_NO_THREAD_SAFETY_ANALYSIS void MemoryStore::reserveInto(std::span<const BucketSpec> buckets,
                                                           std::span<const int64_t> amounts,
                                                           ReserveMode mode, TimePoint now,
                                                           ReserveResult& out) {
  recorder_.count(StoreOp::Reserve);
  const size_t n = buckets.size();
  out.verdict = Verdict::Admitted;
  out.decisiveIndex = 0;
  out.retryIn = std::chrono::milliseconds(0);
  out.reservations.resize(n);
  if (n == 0) {
    return;
  }

  // Outside any lock: normalise, hash, pick shards.
  Scratch<Work, kInline> work(n);
  Scratch<size_t, kInline> order(n);
  for (size_t i = 0; i < n; ++i) {
    const BucketSpec& spec = buckets[i];
    Work& w = work[i];
    w.params = paramsFor(spec);
    w.amount = std::max<int64_t>(i < amounts.size() ? amounts[i] : 0, 0);
    w.need = needFor(mode, spec.algorithm, w.amount);
    w.charges = chargesIn(mode, spec.algorithm);
    w.id = bucketIdFor(hashKey_, spec.key, spec.algorithm, w.params.windowMs);
    w.shard = shardOf(w.id);
    w.entry = nullptr;
    w.verdict = Verdict::Admitted;
    w.charged = 0;
    w.windowStartMs = 0;
    w.remaining = 0;
    w.resetMs = 0;
    w.retryMs = 0;
    order[i] = w.shard;
  }
  size_t locked = 1;
  if (n > 1) {
    std::sort(order.data(), order.data() + n);
    locked = static_cast<size_t>(std::unique(order.data(), order.data() + n) - order.data());
  }

  // Lock in ascending shard order. Time is the latest any of these shards has seen (a thread
  // whose clock read is slightly older than another's must not reopen a forgotten window).
  int64_t nowMs = toMillis(now);
  for (size_t k = 0; k < locked; ++k) {
    Shard& shard = shards_[order[k]];
    shard.mu.lock();
    nowMs = std::max(nowMs, shard.clockMs);
  }
  // Make room for every insert before taking entry pointers.
  for (size_t k = 0; k < locked; ++k) {
    Shard& shard = shards_[order[k]];
    shard.clockMs = nowMs;
    size_t inserts = 0;
    for (size_t i = 0; i < n; ++i) {
      inserts += work[i].shard == order[k] ? 1 : 0;
    }
    shard.expired += shard.table.prepare(inserts, nowMs);
  }

  // Decide, charging tentatively while every bucket so far has room.
  bool failed = false;
  for (size_t i = 0; i < n; ++i) {
    Work& w = work[i];
    Shard& shard = shards_[w.shard];
    bool inserted = false;
    if (w.params.algorithm == Algorithm::Quota) {  // no counter = unlimited; never created here
      w.entry = liveQuota(shard.table, w.id, nowMs);
      if (w.entry == nullptr) {
        continue;  // admitted
      }
    } else {
      w.entry = shard.table.findOrInsert(w.id, &inserted);
    }
    if (w.entry == nullptr) {
      w.verdict = Verdict::StoreFull;
      failed = true;
      continue;
    }
    refresh(*w.entry, w.params, inserted, nowMs);
    Counters& c = w.entry->counters;
    if (w.entry->blockedUntilMs > nowMs) {
      w.verdict = Verdict::Blocked;
      failed = true;
    } else if (neverFits(w.params, w.need)) {
      w.verdict = Verdict::TooLarge;
      failed = true;
    } else if (remaining(w.params, c, nowMs) >= w.need) {
      w.verdict = Verdict::Admitted;
      if (!failed && w.charges) {
        charge(w.params, c, w.amount, nowMs);
        w.charged = w.amount;
      }
    } else {
      w.verdict = Verdict::OverLimit;
      failed = true;
    }
  }

  // All or nothing: undo the tentative charges, start penalties of over-limit buckets.
  uint64_t penalties = 0;
  if (failed) {
    for (size_t i = 0; i < n; ++i) {
      Work& w = work[i];
      if (w.charged != 0) {
        uncharge(w.params, w.entry->counters, w.charged);
        w.charged = 0;
      }
      const int64_t penaltyMs = buckets[i].penalty.count();
      if (w.verdict == Verdict::OverLimit && penaltyMs > 0) {
        w.entry->blockedUntilMs = std::max(w.entry->blockedUntilMs, addClamped(nowMs, penaltyMs));
        ++penalties;
      }
    }
  }

  // Report every bucket and set its expiry.
  for (size_t i = 0; i < n; ++i) {
    Work& w = work[i];
    if (w.entry == nullptr) {
      w.windowStartMs = windowStartMs(w.params, nowMs);
      w.remaining = w.params.algorithm == Algorithm::Quota ? kUnlimited : 0;
      continue;
    }
    Entry& e = *w.entry;
    const Counters& c = e.counters;
    w.windowStartMs = (w.params.algorithm == Algorithm::FixedWindow ||
                       w.params.algorithm == Algorithm::SlidingWindow)
                          ? c.stampMs
                          : nowMs;
    w.remaining = remaining(w.params, c, nowMs);
    w.resetMs = resetInMs(w.params, c, nowMs);
    if (w.verdict == Verdict::OverLimit) {
      w.retryMs = retryInMs(w.params, c, nowMs, w.need);
    }
    if (e.blockedUntilMs > nowMs) {
      const int64_t blockMs = e.blockedUntilMs - nowMs;
      w.resetMs = std::max(w.resetMs, blockMs);
      if (w.verdict == Verdict::OverLimit || w.verdict == Verdict::Blocked) {
        w.retryMs = std::max(w.retryMs, blockMs);
      }
    }
    setExpiry(shards_[w.shard].table, e, w.params, nowMs);
  }

  // Request verdict.
  size_t firstTooLarge = n, firstLimit = n, firstStore = n;
  int64_t retryMs = 0;
  for (size_t i = 0; i < n; ++i) {
    const Verdict v = work[i].verdict;
    if (v == Verdict::TooLarge && firstTooLarge == n) {
      firstTooLarge = i;
    } else if ((v == Verdict::OverLimit || v == Verdict::Blocked)) {
      firstLimit = std::min(firstLimit, i);
      retryMs = std::max(retryMs, work[i].retryMs);
    } else if (v == Verdict::StoreFull && firstStore == n) {
      firstStore = i;
    }
  }
  if (firstTooLarge < n) {
    out.verdict = Verdict::TooLarge;
    out.decisiveIndex = firstTooLarge;
  } else if (firstLimit < n) {
    out.verdict = work[firstLimit].verdict;
    out.decisiveIndex = firstLimit;
    out.retryIn = std::chrono::milliseconds(retryMs);
  } else if (firstStore < n) {
    out.verdict = Verdict::StoreFull;
    out.decisiveIndex = firstStore;
  }

  {
    Shard& first = shards_[work[0].shard];
    if (out.verdict == Verdict::Admitted) {
      ++first.admitted;
    } else if (out.verdict == Verdict::StoreFull) {
      ++first.storeFull;
      recorder_.error(StoreOp::Reserve, StoreError::Full);
    } else {
      ++first.rejected;
    }
    first.penalties += penalties;
  }

  for (size_t k = locked; k-- > 0;) {
    Shard& shard = shards_[order[k]];
    shard.expired += shard.table.sweep(nowMs, options_.sweepPerOperation);
    shard.mu.unlock();
  }

  // Outside the locks: copy specs and states into the result (reusing its capacity).
  for (size_t i = 0; i < n; ++i) {
    const Work& w = work[i];
    Reservation& r = out.reservations[i];
    r.bucket = buckets[i];
    r.windowStart = TimePoint(std::chrono::milliseconds(w.windowStartMs));
    r.charged = w.charged;
    r.id = w.id;
    r.state.verdict = w.verdict;
    r.state.limit = buckets[i].limit;
    r.state.remaining = w.remaining;
    r.state.resetIn = std::chrono::milliseconds(w.resetMs);
    r.state.retryIn = std::chrono::milliseconds(w.retryMs);
  }
}

void MemoryStore::settle(std::span<const Reservation> reservations, std::span<const int64_t> deltas,
                         TimePoint now) {
  recorder_.count(StoreOp::Settle);
  for (size_t i = 0; i < reservations.size() && i < deltas.size(); ++i) {
    const int64_t delta = deltas[i];
    if (delta == 0) {
      continue;
    }
    const Reservation& r = reservations[i];
    const Params p = paramsFor(r.bucket);
    BucketId id = r.id;
    if (id.hi == 0 && id.lo == 0) {  // not produced by reserve: locate by key
      id = bucketIdFor(hashKey_, r.bucket.key, r.bucket.algorithm, p.windowMs);
    }
    Shard& shard = shards_[shardOf(id)];
    MutexLock lock(shard.mu);
    const int64_t nowMs = shard.clockMs = std::max(toMillis(now), shard.clockMs);
    Entry* e = shard.table.find(id);
    bool inserted = false;
    if (e == nullptr || e->expiresAtMs <= nowMs) {
      // A fresh bucket: a refund changes nothing (nothing counted, or already full). A quota
      // is never created by a settle (no quota = unlimited).
      if (delta < 0 || p.algorithm == Algorithm::Quota) {
        continue;
      }
      if (e == nullptr) {
        shard.expired += shard.table.prepare(1, nowMs);
        e = shard.table.findOrInsert(id, &inserted);
        if (e == nullptr) {
          ++shard.settleDropped;
          recorder_.error(StoreOp::Settle, StoreError::Full);
          continue;
        }
      }
    }
    refresh(*e, p, inserted, nowMs);
    settleInto(p, e->counters, toMillis(r.windowStart), delta, nowMs);
    setExpiry(shard.table, *e, p, nowMs);
    ++shard.settles;
    shard.expired += shard.table.sweep(nowMs, options_.sweepPerOperation);
  }
}

// ---- operators ----

BucketPeek MemoryStore::peekOne(const BucketSpec& spec, TimePoint now) {
  const Params p = paramsFor(spec);
  const BucketId id = bucketIdFor(hashKey_, spec.key, spec.algorithm, p.windowMs);
  Shard& shard = shards_[shardOf(id)];
  MutexLock lock(shard.mu);
  const int64_t nowMs = std::max(toMillis(now), shard.clockMs);
  return peekEntry(spec, p, shard.table.find(id), nowMs);
}

BucketPeek MemoryStore::peekEntry(const BucketSpec& spec, const Params& p, const Entry* e,
                                  int64_t nowMs) {
  BucketPeek out;
  out.limit = spec.limit;
  const bool live = e != nullptr && e->expiresAtMs > nowMs;
  if (p.algorithm == Algorithm::Quota) {
    out.limit = 0;
    out.present = live;
    out.remaining = live ? e->counters.current : 0;
    return out;
  }
  Counters c = live ? e->counters : freshCounters(p, nowMs);
  advance(p, c, nowMs);
  out.remaining = remaining(p, c, nowMs);
  out.used = p.limit - out.remaining;
  out.resetIn = std::chrono::milliseconds(resetInMs(p, c, nowMs));
  if (live && e->blockedUntilMs > nowMs) {
    out.blockedFor = std::chrono::milliseconds(e->blockedUntilMs - nowMs);
    out.resetIn = std::max(out.resetIn, out.blockedFor);
  }
  out.present = out.used != 0 || out.blockedFor.count() > 0;
  return out;
}

bool MemoryStore::peek(std::span<const BucketSpec> buckets, TimePoint now,
                       std::vector<BucketPeek>& out, std::function<void()>) {
  recorder_.count(StoreOp::Peek);
  out.resize(buckets.size());
  for (size_t i = 0; i < buckets.size(); ++i) {
    out[i] = peekOne(buckets[i], now);
  }
  return true;
}

bool MemoryStore::reset(std::span<const BucketSpec> buckets, TimePoint now,
                        std::vector<BucketPeek>& out, std::function<void()>) {
  recorder_.count(StoreOp::Reset);
  out.resize(buckets.size());
  for (size_t i = 0; i < buckets.size(); ++i) {
    const BucketSpec& spec = buckets[i];
    const Params p = paramsFor(spec);
    const BucketId id = bucketIdFor(hashKey_, spec.key, spec.algorithm, p.windowMs);
    Shard& shard = shards_[shardOf(id)];
    MutexLock lock(shard.mu);
    const int64_t nowMs = std::max(toMillis(now), shard.clockMs);
    if (Entry* e = shard.table.find(id)) {
      e->expiresAtMs = INT64_MIN;  // expired: the next use starts fresh, a sweep reclaims it
    }
    out[i] = peekEntry(spec, p, nullptr, nowMs);
  }
  return true;
}

bool MemoryStore::adjust(const BucketSpec& spec, Adjust how, int64_t value, TimePoint now,
                         BucketPeek& out, std::function<void()>) {
  recorder_.count(StoreOp::Adjust);
  out = BucketPeek{};
  if (spec.algorithm != Algorithm::Quota) {
    out.status = StoreStatus::Invalid;
    out.error = "only a quota can be set or adjusted";
    return true;
  }
  const Params p = paramsFor(spec);
  const BucketId id = bucketIdFor(hashKey_, spec.key, spec.algorithm, p.windowMs);
  Shard& shard = shards_[shardOf(id)];
  MutexLock lock(shard.mu);
  const int64_t nowMs = shard.clockMs = std::max(toMillis(now), shard.clockMs);
  Entry* e = liveQuota(shard.table, id, nowMs);
  const int64_t current = e != nullptr ? e->counters.current : 0;  // unset: from 0
  int64_t next = value;
  if (how == Adjust::Add && __builtin_add_overflow(current, value, &next)) {
    out.status = StoreStatus::Invalid;
    out.error = "increment or decrement would overflow";
    return true;
  }
  if (e == nullptr) {
    bool inserted = false;
    shard.expired += shard.table.prepare(1, nowMs);
    e = shard.table.findOrInsert(id, &inserted);
    if (e == nullptr) {
      recorder_.error(StoreOp::Adjust, StoreError::Full);
      out.status = StoreStatus::Unavailable;
      out.error = "the memory store is full (store.max_buckets)";
      return true;
    }
    e->blockedUntilMs = 0;
  }
  e->counters = Counters{nowMs, next, 0};
  setExpiry(shard.table, *e, p, nowMs);
  out = peekEntry(spec, p, e, nowMs);
  return true;
}

size_t MemoryStore::sweep(TimePoint now, size_t slotsPerShard) {
  size_t removed = 0;
  for (size_t i = 0; i < shardCount_; ++i) {
    Shard& shard = shards_[i];
    MutexLock lock(shard.mu);
    const int64_t nowMs = shard.clockMs = std::max(toMillis(now), shard.clockMs);
    size_t r = shard.table.sweep(nowMs, slotsPerShard);
    shard.expired += r;
    removed += r;
  }
  return removed;
}

MemoryStoreStats MemoryStore::stats() const {
  MemoryStoreStats s;
  s.bytes = sizeof(Shard) * shardCount_;
  for (size_t i = 0; i < shardCount_; ++i) {
    Shard& shard = shards_[i];
    MutexLock lock(shard.mu);
    s.entries += shard.table.size();
    s.slots += shard.table.capacity();
    s.bytes += shard.table.bytes();
    s.reservesAdmitted += shard.admitted;
    s.reservesRejected += shard.rejected;
    s.reservesStoreFull += shard.storeFull;
    s.penaltiesStarted += shard.penalties;
    s.settles += shard.settles;
    s.settleDropped += shard.settleDropped;
    s.expiredReclaimed += shard.expired;
  }
  return s;
}

size_t MemoryStore::bytesPerSlot() { return sizeof(Entry); }

}  // namespace tg::store
