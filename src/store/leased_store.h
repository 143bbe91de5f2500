#pragma once
// LeasedStore: cluster-wide limits at in-memory speed. A Store decorator over a shared store
// (RedisStore) for ONE worker thread: it reserves a slice of a bucket's remaining budget from
// the inner store in one ordinary reserve (the lease), admits the requests that follow from
// that slice locally, settles their usage into it, and gives the unused part back later in one
// ordinary settle. The inner store stays the only authority; a lease is a large reservation.
//
// Why the limit stays exact. A lease is charged in the inner store atomically, like any
// reservation, so the sum of what every instance holds plus what was reserved exactly never
// exceeds the limit. A request admitted from a lease is charged to the window the lease was
// charged to, and a lease of a FixedWindow or SlidingWindow bucket is never used after that
// window (it is returned at the boundary). So for those algorithms leased mode admits exactly
// what exact mode admits, or less (budget held by another instance is not available here):
//   overshoot(leased) = overshoot(exact) = only real usage above its reservation (debt).
// TokenBucket is the exception: the tokens of a lease leave the bucket when it is taken, so
// the bucket refills during the lease as if they were spent; a lease held for `ttl` can let
// the cluster admit at most limit * ttl / window more than exact mode. Per bucket:
//   extra admitted <= holders * min(sliceCap, limit * ttl / window)
// where holders = gateway instances * workers (each worker holds its own leases).
// The opposite error, budget stranded in other holders' leases, is at most holders * sliceCap
// tokens at any moment and lasts at most `ttl` (expiry returns it).
//
// Slice size (per bucket, at each new lease; sliceCap = limit * maxShare): min(sliceCap, 2 * what
// this worker consumed from its previous lease per ttl, (remaining - need) / remainingDivisor);
// before a bucket's first lease, twice the tokens this worker saw requested for it in the last
// ttl instead, and no lease at all for a bucket it saw only once in a ttl (a cold consumer's
// slice would only strand budget: with many instances and thin traffic, leases cost more Redis
// calls than they save, bench/lease_sim and docs/scaling.md). Here remaining is remaining is the
// inner store's answer to the previous lease. So slices are large far from the limit and shrink as
// the bucket nears exhaustion; when the slice would not hold one more request of this size, the
// request is reserved exactly (one inner reserve per request, today's behaviour) for that last part
// of the budget. A lease request that the inner store rejects (the budget went to other instances
// meanwhile) is retried at once with the exact amounts, so leasing never turns an admission into a
// rejection.
//
// Leased: FixedWindow, SlidingWindow and TokenBucket buckets of Reserve-mode requests with a
// limit of at least `minLimit`, not marked `exact`. Never leased: CheckOnly (Higress) mode,
// BucketSpec::exact (a policy's `lease: exact`), penalty buckets, Concurrency, Quota,
// limits below minLimit (a lease would hold most of the budget). Those go to the inner store
// exactly as before, in the same all-or-nothing reserve as the request's leased buckets.
//
// Returns: a lease is returned (inner settle of used - granted) at its expiry (taken + ttl),
// at its window's end (FixedWindow, SlidingWindow), when a newer lease of the bucket replaces
// it, on release() (reload) and on stop() (shutdown); tick() returns the expired ones and is
// called by the worker's timer. A request admitted from a lease that is returned before it
// settles settles into the bucket's current lease when that one counts the same window (any
// lease of a TokenBucket), else straight into the inner store (its window, the rules of exact
// mode): either way its delta reaches the inner store once, and a lease is never counted twice.
// Penalties: a rejection by the inner store (OverLimit, Blocked) drops this worker's lease of that
// bucket; other holders see the block at their next inner call, at most `ttl` later.
//
// When the inner store fails (StoreError: Redis down), local leases keep admitting until they
// expire or run out; then the limiter's store_failure mode applies as in exact mode. A return
// that fails is lost like any failed settle (the inner store's window forgets it).
//
// Threading: one LeasedStore per worker, used only on that worker's thread (like RedisStore);
// no locks. reserveStart calls `done` on that thread, later, when the inner store did.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "store/store.h"

namespace tg::store {

struct LeaseOptions {
  std::chrono::milliseconds ttl{1000};  // a lease is returned at most this long after taken
  double maxShare = 1.0 / 16;           // sliceCap = limit * maxShare, in (0, 1]
  uint64_t remainingDivisor = 4;        // a slice takes at most 1/4 of what remains
  uint64_t minLimit = 64;               // buckets with a smaller limit are reserved exactly
  // Requests a worker must see for a bucket within a ttl before it leases one (the first
  // slice is then twice their tokens). 1 = lease on the first request, with a first slice of
  // sliceCap (eager: few instances, or tests of the lease mechanics).
  uint32_t hotRequests = 2;
};

// Counters for tests and benchmarks (what went to the inner store).
struct LeaseCounts {
  uint64_t localAdmits = 0;    // reserves decided from leases alone
  uint64_t innerReserves = 0;  // reserve calls made to the inner store
  uint64_t leasesTaken = 0;
  uint64_t leasesReturned = 0;
  uint64_t exactFallbacks = 0;  // lease requests rejected and retried exactly
};

class LeasedStore final : public Store {
 public:
  LeasedStore(std::shared_ptr<Store> inner, LeaseOptions options);
  ~LeasedStore() override;

  void reserveInto(std::span<const BucketSpec> buckets, std::span<const int64_t> amounts,
                   ReserveMode mode, TimePoint now, ReserveResult& out) override;
  bool reserveStart(std::span<const BucketSpec> buckets, std::span<const int64_t> amounts,
                    ReserveMode mode, TimePoint now, ReserveResult& out,
                    std::function<void()> done) override;
  bool decidesInline() const override { return false; }
  void settle(std::span<const Reservation> reservations, std::span<const int64_t> deltas,
              TimePoint now) override;

  // Operators go to the inner store (reset also drops this worker's leases of the buckets:
  // the next request leases afresh). What a peek reports as used includes leased slices.
  bool peek(std::span<const BucketSpec> buckets, TimePoint now, std::vector<BucketPeek>& out,
            std::function<void()> done) override;
  bool reset(std::span<const BucketSpec> buckets, TimePoint now, std::vector<BucketPeek>& out,
             std::function<void()> done) override;
  bool adjust(const BucketSpec& bucket, Adjust how, int64_t value, TimePoint now, BucketPeek& out,
              std::function<void()> done) override;

  std::chrono::milliseconds tick(TimePoint now) override;
  void release(TimePoint now) override;
  void stop() override;

  const LeaseCounts& counts() const { return counts_; }
  size_t leasesHeld() const;

 private:
  struct Lease;
  struct Entry;
  struct Call;
  struct EntryKey {
    std::string key;
    Algorithm algorithm;
    int64_t windowMs;
  };
  struct KeyView {
    std::string_view key;
    Algorithm algorithm;
    int64_t windowMs;
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(const KeyView& k) const;
    size_t operator()(const EntryKey& k) const { return (*this)(view(k)); }
  };
  struct KeyEq {
    using is_transparent = void;
    bool operator()(const KeyView& a, const KeyView& b) const;
    bool operator()(const EntryKey& a, const EntryKey& b) const {
      return (*this)(view(a), view(b));
    }
    bool operator()(const KeyView& a, const EntryKey& b) const { return (*this)(a, view(b)); }
    bool operator()(const EntryKey& a, const KeyView& b) const { return (*this)(view(a), b); }
  };
  static KeyView view(const EntryKey& k) { return {k.key, k.algorithm, k.windowMs}; }
  using Map = std::unordered_map<EntryKey, std::unique_ptr<Entry>, KeyHash, KeyEq>;

  bool leasable(const BucketSpec& b, ReserveMode mode) const;
  Entry* find(const BucketSpec& b);
  Entry& findOrAdd(const BucketSpec& b);
  bool usable(const Entry& e, TimePoint now) const;
  // Usable, with room for `need` more.
  bool fits(const Entry& e, int64_t need, TimePoint now) const;
  void noteDemand(Entry& e, int64_t amount, TimePoint now) const;
  int64_t sliceFor(const Entry& e, const BucketSpec& b, int64_t need) const;
  void returnLease(Entry& e, TimePoint now);
  void admitLocally(Entry& e, const BucketSpec& b, int64_t amount, TimePoint now, Reservation& out);
  bool tryLocal(std::span<const BucketSpec> buckets, std::span<const int64_t> amounts,
                ReserveMode mode, TimePoint now, ReserveResult& out);
  bool startInner(std::shared_ptr<Call> call);
  void finishInner(Call& call);

  std::shared_ptr<Store> inner_;
  LeaseOptions options_;
  Map entries_;
  uint64_t nextLeaseId_ = 1;
  LeaseCounts counts_;
  bool stopped_ = false;
  TimePoint lastNow_{};
};

}  // namespace tg::store
