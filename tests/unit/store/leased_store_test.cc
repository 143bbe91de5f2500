// LeasedStore over a shared MemoryStore with explicit times: local admission from leases, the
// inner calls it saves, returns (expiry, window end, release, stop), settles into and past a
// lease, the exact fallback near exhaustion, all-or-nothing with tentative local charges, one
// lease request per bucket in flight (a deferred inner store), and the property the
// documentation states: several holders over one store never admit more than the limit per
// window (FixedWindow, SlidingWindow) and at most the stated bound more for TokenBucket.
#include "store/leased_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "bucket_spec.h"
#include "store/memory_store.h"

namespace tg::store {
namespace {

using test::kT0Ms;
using test::spec;

using std::chrono::milliseconds;

TimePoint at(int64_t ms) { return TimePoint(milliseconds(kT0Ms + ms)); }

// A Store that forwards to a MemoryStore and either completes inline or defers every reserve
// until run() (the network), counting what reaches it.
class CountingStore final : public Store {
 public:
  explicit CountingStore(std::shared_ptr<MemoryStore> m, bool deferred = false)
      : m_(std::move(m)), deferred_(deferred) {}
  void reserveInto(std::span<const BucketSpec> b, std::span<const int64_t> a, ReserveMode mode,
                   TimePoint now, ReserveResult& out) override {
    ++reserves;
    m_->reserveInto(b, a, mode, now, out);
  }
  bool reserveStart(std::span<const BucketSpec> b, std::span<const int64_t> a, ReserveMode mode,
                    TimePoint now, ReserveResult& out, std::function<void()> done) override {
    ++reserves;
    if (!deferred_) {
      m_->reserveInto(b, a, mode, now, out);
      return true;
    }
    queue_.push_back([this, b, a, mode, now, &out, done] {
      m_->reserveInto(b, a, mode, now, out);
      done();
    });
    return false;
  }
  bool decidesInline() const override { return !deferred_; }
  void settle(std::span<const Reservation> r, std::span<const int64_t> d, TimePoint now) override {
    ++settles;
    m_->settle(r, d, now);
  }
  bool peek(std::span<const BucketSpec> b, TimePoint now, std::vector<BucketPeek>& out,
            std::function<void()> done) override {
    return m_->peek(b, now, out, std::move(done));
  }
  bool reset(std::span<const BucketSpec> b, TimePoint now, std::vector<BucketPeek>& out,
             std::function<void()> done) override {
    return m_->reset(b, now, out, std::move(done));
  }
  bool adjust(const BucketSpec& b, Adjust how, int64_t v, TimePoint now, BucketPeek& out,
              std::function<void()> done) override {
    return m_->adjust(b, how, v, now, out, std::move(done));
  }
  void stop() override { ++stops; }
  // Completes the deferred reserves in order.
  void run() {
    while (!queue_.empty()) {
      auto f = std::move(queue_.front());
      queue_.pop_front();
      f();
    }
  }
  size_t queued() const { return queue_.size(); }

  int reserves = 0, settles = 0, stops = 0;

 private:
  std::shared_ptr<MemoryStore> m_;
  bool deferred_;
  std::deque<std::function<void()>> queue_;
};

// The lease mechanics are tested with eager leases (a lease on a bucket's first request);
// ColdBucketsAreReservedExactly tests the default.
LeaseOptions eager(LeaseOptions o = {}) {
  o.hotRequests = 1;
  return o;
}

struct Holder {
  explicit Holder(std::shared_ptr<MemoryStore> m, LeaseOptions o = eager(), bool deferred = false)
      : inner(std::make_shared<CountingStore>(std::move(m), deferred)), store(inner, o) {}
  std::shared_ptr<CountingStore> inner;
  LeasedStore store;

  // A reserve that must complete inline.
  ReserveResult reserve(const std::vector<BucketSpec>& b, const std::vector<int64_t>& a,
                        TimePoint now, ReserveMode mode = ReserveMode::Reserve) {
    ReserveResult out;
    bool called = false;
    const bool inl = store.reserveStart(b, a, mode, now, out, [&] { called = true; });
    EXPECT_TRUE(inl);
    EXPECT_FALSE(called);
    return out;
  }
};

int64_t used(MemoryStore& m, const BucketSpec& b, TimePoint now) {
  std::vector<BucketPeek> out;
  EXPECT_TRUE(m.peek(std::span(&b, 1), now, out, [] {}));
  return out.at(0).used;
}

TEST(LeasedStoreTest, AdmitsFromItsLeaseWithoutTheInnerStore) {
  auto mem = std::make_shared<MemoryStore>();
  Holder h(mem);
  const std::vector<BucketSpec> b{spec("c:alice", Algorithm::FixedWindow, 1600)};
  // First: one inner reserve of 10 + a slice of min(1600/16, (1600-10)/4) = 100.
  ReserveResult r = h.reserve(b, {10}, at(0));
  ASSERT_TRUE(r.admitted());
  EXPECT_EQ(h.inner->reserves, 1);
  EXPECT_EQ(used(*mem, b[0], at(0)), 110);
  EXPECT_EQ(r.reservations[0].charged, 10);
  EXPECT_NE(r.reservations[0].lease, 0u);
  EXPECT_EQ(r.reservations[0].state.remaining, 1600 - 10);
  // The next ten fit the slice: no inner call.
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(h.reserve(b, {10}, at(1 + i)).admitted());
  }
  EXPECT_EQ(h.inner->reserves, 1);
  EXPECT_EQ(h.store.counts().localAdmits, 10u);
  // The twelfth needs a new lease; the old one is returned (exactly used: delta 0).
  ASSERT_TRUE(h.reserve(b, {10}, at(20)).admitted());
  EXPECT_EQ(h.inner->reserves, 2);
  EXPECT_EQ(h.store.counts().leasesTaken, 2u);
  EXPECT_EQ(h.store.counts().leasesReturned, 1u);
}

TEST(LeasedStoreTest, SettlesIntoTheLeaseAndReturnsWhatWasNotUsed) {
  auto mem = std::make_shared<MemoryStore>();
  Holder h(mem);
  const std::vector<BucketSpec> b{spec("c:bob", Algorithm::FixedWindow, 1600)};
  ReserveResult r = h.reserve(b, {50}, at(0));  // slice 100: inner used 150
  ASSERT_TRUE(r.admitted());
  const int64_t refund = -30;  // the request used 20
  h.store.settle(r.reservations, std::span(&refund, 1), at(5));
  EXPECT_EQ(h.inner->settles, 0);  // into the lease
  EXPECT_EQ(used(*mem, b[0], at(5)), 150);
  // Expiry (ttl 1 s): the lease goes back; the store then holds exactly the real usage.
  h.store.tick(at(1001));
  EXPECT_EQ(h.store.leasesHeld(), 0u);
  EXPECT_EQ(used(*mem, b[0], at(1001)), 20);
}

TEST(LeasedStoreTest, ASettleAfterTheReturnGoesToTheInnerStore) {
  auto mem = std::make_shared<MemoryStore>();
  Holder h(mem);
  const std::vector<BucketSpec> b{spec("c:carol", Algorithm::FixedWindow, 1600)};
  ReserveResult r = h.reserve(b, {50}, at(0));
  h.store.release(at(10));  // reload: used 50 of 150 -> inner 50
  EXPECT_EQ(used(*mem, b[0], at(10)), 50);
  const int64_t extra = 25;  // the stream used 75
  h.store.settle(r.reservations, std::span(&extra, 1), at(20));
  EXPECT_EQ(h.inner->settles, 2);  // the return, then this one
  EXPECT_EQ(used(*mem, b[0], at(20)), 75);
}

TEST(LeasedStoreTest, ASettleOfAnOldLeaseGoesIntoTheCurrentLeaseOfItsWindow) {
  auto mem = std::make_shared<MemoryStore>();
  Holder h(mem);
  const std::vector<BucketSpec> b{spec("c:kim", Algorithm::FixedWindow, 1600)};
  ReserveResult first = h.reserve(b, {50}, at(0));  // lease 1: 50 + 100
  ASSERT_TRUE(first.admitted());
  h.store.tick(at(1001));                                // lease 1 expires: inner holds 50
  ASSERT_TRUE(h.reserve(b, {50}, at(1002)).admitted());  // lease 2: inner 50 + 150
  const int settles = h.inner->settles;
  const int64_t refund = -40;  // the first request used 10
  h.store.settle(first.reservations, std::span(&refund, 1), at(1003));
  EXPECT_EQ(h.inner->settles, settles);  // no network call
  h.store.release(at(1004));
  EXPECT_EQ(used(*mem, b[0], at(1004)), 10 + 50);
}

TEST(LeasedStoreTest, ColdBucketsAreReservedExactlyHotOnesLeasedByTheirDemand) {
  auto mem = std::make_shared<MemoryStore>();
  Holder h(mem, LeaseOptions{});  // the default: hotRequests 2
  const std::vector<BucketSpec> b{spec("c:lee", Algorithm::FixedWindow, 16'000)};
  // Once per ttl (1 s): never a lease.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(h.reserve(b, {10}, at(i * 2500)).admitted());
  }
  EXPECT_EQ(h.store.counts().leasesTaken, 0u);
  EXPECT_EQ(used(*mem, b[0], at(10'000)), 40);
  // Twice within a ttl: the second takes a slice of twice the demand seen (2 x 10 + 2 x 10).
  ASSERT_TRUE(h.reserve(b, {10}, at(10'000)).admitted());
  ASSERT_TRUE(h.reserve(b, {10}, at(10'100)).admitted());
  EXPECT_EQ(h.store.counts().leasesTaken, 1u);
  EXPECT_EQ(used(*mem, b[0], at(10'100)), 50 + 10 + 40);
}

TEST(LeasedStoreTest, ALeaseIsNeverUsedPastItsWindow) {
  auto mem = std::make_shared<MemoryStore>();
  LeaseOptions o = eager();
  o.ttl = milliseconds(10'000);
  Holder h(mem, o);
  const std::vector<BucketSpec> b{spec("c:dan", Algorithm::FixedWindow, 1600)};
  ASSERT_TRUE(h.reserve(b, {10}, at(59'995)).admitted());
  ReserveResult r = h.reserve(b, {10}, at(60'001));  // next window: a new lease
  ASSERT_TRUE(r.admitted());
  EXPECT_EQ(h.inner->reserves, 2);
  EXPECT_EQ(r.reservations[0].windowStart, at(60'000));
  EXPECT_EQ(used(*mem, b[0], at(60'001)), 110);  // the old window's slice is not counted here
}

TEST(LeasedStoreTest, NearExhaustionItReservesExactlyAndAdmitsAsMuchAsExactMode) {
  for (Algorithm a : {Algorithm::FixedWindow, Algorithm::SlidingWindow, Algorithm::TokenBucket}) {
    auto leasedMem = std::make_shared<MemoryStore>();
    auto exactMem = std::make_shared<MemoryStore>();
    Holder h(leasedMem);
    const std::vector<BucketSpec> b{spec("c:erin", a, 1000)};
    int leased = 0, exact = 0;
    for (int i = 0; i < 200; ++i) {
      leased += h.reserve(b, {7}, at(i)).admitted();
      exact +=
          exactMem->reserve(b, std::vector<int64_t>{7}, ReserveMode::Reserve, at(i)).admitted();
    }
    EXPECT_EQ(leased, exact) << "algorithm " << static_cast<int>(a);
    EXPECT_GT(h.store.counts().localAdmits, 0u);
  }
}

TEST(LeasedStoreTest, ARejectionTakesBackTheTentativeLocalCharges) {
  auto mem = std::make_shared<MemoryStore>();
  Holder h(mem);
  const BucketSpec tokens = spec("c:fay|t", Algorithm::FixedWindow, 1600);
  const BucketSpec requests = spec("c:fay|r", Algorithm::FixedWindow, 1);  // below minLimit
  ASSERT_TRUE(h.reserve({tokens}, {10}, at(0)).admitted());                // leases tokens
  ASSERT_TRUE(h.reserve({tokens, requests}, {10, 1}, at(1)).admitted());   // 1 request used
  ReserveResult r = h.reserve({tokens, requests}, {10, 1}, at(2));
  ASSERT_FALSE(r.admitted());
  EXPECT_EQ(r.decisiveIndex, 1u);
  EXPECT_EQ(r.reservations[0].charged, 0);
  EXPECT_EQ(r.reservations[0].lease, 0u);
  h.store.release(at(3));
  EXPECT_EQ(used(*mem, tokens, at(3)), 20);  // the rejected request's 10 were taken back
}

TEST(LeasedStoreTest, ExactCheckOnlyConcurrencyAndPenaltyBucketsAreNeverLeased) {
  auto mem = std::make_shared<MemoryStore>();
  Holder h(mem);
  const std::vector<BucketSpec> check{spec("c:gil", Algorithm::FixedWindow, 1600)};
  const std::vector<BucketSpec> conc{spec("c:gil|c", Algorithm::Concurrency, 100)};
  const std::vector<BucketSpec> pen{
      spec("c:gil|p", Algorithm::FixedWindow, 1600, milliseconds(60'000), milliseconds(5'000))};
  std::vector<BucketSpec> exact{spec("c:gil|e", Algorithm::FixedWindow, 1600)};
  exact[0].exact = true;  // a policy's `lease: exact`
  for (int i = 0; i < 3; ++i) {
    h.reserve(exact, {10}, at(i));
    h.reserve(check, {10}, at(i), ReserveMode::CheckOnly);
    h.reserve(conc, {1}, at(i));
    h.reserve(pen, {10}, at(i));
  }
  EXPECT_EQ(h.inner->reserves, 12);
  EXPECT_EQ(h.store.leasesHeld(), 0u);
}

TEST(LeasedStoreTest, OneLeaseRequestPerBucketInFlight) {
  auto mem = std::make_shared<MemoryStore>();
  Holder h(mem, eager(), /*deferred=*/true);
  const std::vector<BucketSpec> b{spec("c:hal", Algorithm::FixedWindow, 16'000)};
  const std::vector<int64_t> a{10};
  std::vector<ReserveResult> out(3);
  int done = 0;
  for (auto& o : out) {
    EXPECT_FALSE(h.store.reserveStart(b, a, ReserveMode::Reserve, at(0), o, [&] { ++done; }));
  }
  h.inner->run();
  EXPECT_EQ(done, 3);
  for (auto& o : out) {
    EXPECT_TRUE(o.admitted());
  }
  EXPECT_EQ(h.store.counts().leasesTaken, 1u);  // the others went exactly meanwhile
  EXPECT_EQ(used(*mem, b[0], at(0)), 30 + 1000);
  // Now local.
  ReserveResult r;
  EXPECT_TRUE(h.store.reserveStart(b, a, ReserveMode::Reserve, at(1), r, [] { FAIL(); }));
  EXPECT_TRUE(r.admitted());
}

TEST(LeasedStoreTest, ARefusedLeaseRequestIsRetriedExactly) {
  auto mem = std::make_shared<MemoryStore>();
  Holder a(mem), b(mem);
  const std::vector<BucketSpec> bucket{spec("c:ivy", Algorithm::FixedWindow, 1600)};
  ASSERT_TRUE(a.reserve(bucket, {10}, at(0)).admitted());  // b does not know: remaining unknown
  // Someone else takes almost all (exact, straight in the store).
  ASSERT_TRUE(
      mem->reserve(bucket, std::vector<int64_t>{1470}, ReserveMode::Reserve, at(1)).admitted());
  // 1600 - 110 - 1470 = 20 left: b's lease request (10 + 100) fails, the exact retry fits.
  ReserveResult r = b.reserve(bucket, {10}, at(2));
  EXPECT_TRUE(r.admitted());
  EXPECT_EQ(b.store.counts().exactFallbacks, 1u);
  EXPECT_EQ(b.inner->reserves, 2);
}

TEST(LeasedStoreTest, StopReturnsEveryLease) {
  auto mem = std::make_shared<MemoryStore>();
  Holder h(mem);
  const std::vector<BucketSpec> b{spec("c:jo", Algorithm::TokenBucket, 1600)};
  ASSERT_TRUE(h.reserve(b, {10}, at(0)).admitted());
  h.store.stop();
  EXPECT_EQ(h.inner->stops, 1);
  EXPECT_EQ(h.store.leasesHeld(), 0u);
  EXPECT_EQ(used(*mem, b[0], at(0)), 10);
}

// Several holders (instances x workers) over one store, random traffic with real usage at or
// below each reservation: per window the tokens admitted (settled usage) never exceed the limit
// for the window algorithms; for TokenBucket at most capacity + refill + the stated bound.
TEST(LeasedStoreTest, HoldersTogetherStayWithinTheStatedBound) {
  for (Algorithm alg : {Algorithm::FixedWindow, Algorithm::SlidingWindow, Algorithm::TokenBucket}) {
    auto mem = std::make_shared<MemoryStore>();
    LeaseOptions o;
    std::vector<std::unique_ptr<Holder>> holders;
    for (int i = 0; i < 4; ++i) {
      holders.push_back(std::make_unique<Holder>(mem, o));
    }
    const int64_t limit = 20'000;
    const int64_t windowMs = 10'000;
    const std::vector<BucketSpec> b{spec("c:shared", alg, limit, milliseconds(windowMs))};
    std::mt19937 rng(7 + static_cast<int>(alg));
    std::uniform_int_distribution<int> who(0, 3), amt(1, 120);
    std::vector<int64_t> admittedPerWindow(8, 0);
    int64_t admittedTotal = 0;
    for (int64_t t = 0; t < 8 * windowMs; t += 2) {
      Holder& h = *holders[static_cast<size_t>(who(rng))];
      const int64_t amount = amt(rng);
      ReserveResult r = h.reserve(b, {amount}, at(t));
      if (r.admitted()) {
        const int64_t real = amount - amt(rng) % (amount + 1) / 2;  // at or below the reservation
        const int64_t delta = real - amount;
        h.store.settle(r.reservations, std::span(&delta, 1), at(t));
        admittedPerWindow[static_cast<size_t>(t / windowMs)] += real;
        admittedTotal += real;
      }
      if (t % 100 == 0) {
        for (auto& x : holders) {
          x->store.tick(at(t));
        }
      }
    }
    if (alg == Algorithm::FixedWindow) {
      for (int64_t w : admittedPerWindow) {
        EXPECT_LE(w, limit);
        EXPECT_GT(w, limit * 9 / 10);  // and little is stranded
      }
    } else {
      // Over the whole run: capacity + refill (TokenBucket) or two windows' weight (Sliding)
      // plus, for TokenBucket, holders * min(sliceCap, limit * ttl / window) per lease turn.
      const int64_t windows = 8;
      int64_t bound = limit * (windows + 1);
      if (alg == Algorithm::TokenBucket) {
        const int64_t perHolder = std::min<int64_t>(limit / 16, limit * 1000 / windowMs);
        bound += 4 * perHolder * (8 * windowMs / 1000);
      }
      EXPECT_LE(admittedTotal, bound) << static_cast<int>(alg);
      EXPECT_GT(admittedTotal, limit * windows * 8 / 10) << static_cast<int>(alg);
    }
  }
}

}  // namespace
}  // namespace tg::store
