// The operator calls of store::Store (peek, reset, adjust) and the Quota algorithm, through the
// Store& interface over a MemoryStore with a ManualClock: everything completes inline; the
// quota semantics of store/quota.h (no counter = unlimited, a settle never creates one, add on
// unset starts from 0, debt, overflow) both through the seam and through store/quota.h.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "bucket_spec.h"
#include "core/clock.h"
#include "store/memory_store.h"
#include "store/quota.h"

namespace tg::store {
namespace {

using test::kT0Ms;
using test::spec;

using std::chrono::milliseconds;

// `done` of an inline store must never run.
const std::function<void()> kNever = [] { ADD_FAILURE() << "done called by an inline store"; };

class StoreOperatorsTest : public ::testing::Test {
 protected:
  StoreOperatorsTest() { clock_.set(milliseconds(kT0Ms)); }
  TimePoint now() const { return clock_.wallNow(); }
  void at(int64_t ms) { clock_.set(milliseconds(kT0Ms + ms)); }

  BucketPeek peek(const BucketSpec& b) {
    std::vector<BucketPeek> out;
    EXPECT_TRUE(store().peek(std::span(&b, 1), now(), out, kNever));
    return out.at(0);
  }
  BucketPeek reset(const BucketSpec& b) {
    std::vector<BucketPeek> out;
    EXPECT_TRUE(store().reset(std::span(&b, 1), now(), out, kNever));
    return out.at(0);
  }
  BucketPeek adjust(const BucketSpec& b, Store::Adjust how, int64_t v) {
    BucketPeek out;
    EXPECT_TRUE(store().adjust(b, how, v, now(), out, kNever));
    return out;
  }
  ReserveResult reserve(const BucketSpec& b, int64_t amount,
                        ReserveMode mode = ReserveMode::Reserve) {
    ReserveResult out;
    const std::vector<BucketSpec> bs{b};
    const std::vector<int64_t> as{amount};
    EXPECT_TRUE(store().reserveStart(bs, as, mode, now(), out, kNever));
    return out;
  }
  void settle(const ReserveResult& r, int64_t delta) {
    store().settle(r.reservations, std::span(&delta, 1), now());
  }
  Store& store() { return mem_; }

  core::ManualClock clock_;
  MemoryStore mem_{MemoryStoreOptions{.shards = 4, .maxEntries = 64, .hashKey = {1, 2}}};
};

TEST_F(StoreOperatorsTest, PeekReportsUsageWithoutChangingIt) {
  const BucketSpec b = spec("tpm:alice", Algorithm::FixedWindow, 100, milliseconds(60'000));
  BucketPeek fresh = peek(b);
  EXPECT_TRUE(fresh.ok());
  EXPECT_FALSE(fresh.present);
  EXPECT_EQ(fresh.limit, 100u);
  EXPECT_EQ(fresh.remaining, 100);
  EXPECT_EQ(fresh.used, 0);
  EXPECT_EQ(fresh.resetIn.count(), 0);
  ASSERT_TRUE(reserve(b, 30).admitted());
  at(10'000);
  for (int i = 0; i < 3; ++i) {  // reading twice changes nothing
    BucketPeek p = peek(b);
    EXPECT_TRUE(p.present);
    EXPECT_EQ(p.used, 30);
    EXPECT_EQ(p.remaining, 70);
    EXPECT_EQ(p.resetIn.count(), 50'000);
  }
  EXPECT_EQ(reserve(b, 70).reservations[0].state.remaining, 0);
}

TEST_F(StoreOperatorsTest, PeekShowsABlockAndResetLiftsIt) {
  const BucketSpec b =
      spec("rpm:bob", Algorithm::FixedWindow, 1, milliseconds(1'000), milliseconds(30'000));
  ASSERT_TRUE(reserve(b, 1).admitted());
  EXPECT_EQ(reserve(b, 1).verdict, Verdict::OverLimit);  // starts the penalty
  at(5'000);
  BucketPeek p = peek(b);
  EXPECT_EQ(p.blockedFor.count(), 25'000);
  EXPECT_EQ(p.resetIn.count(), 25'000);
  EXPECT_TRUE(p.present);
  EXPECT_EQ(reserve(b, 1).verdict, Verdict::Blocked);
  BucketPeek r = reset(b);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining, 1);
  EXPECT_EQ(r.blockedFor.count(), 0);
  EXPECT_TRUE(reserve(b, 1).admitted());
}

TEST_F(StoreOperatorsTest, PeekAndResetTakeManyBuckets) {
  const std::vector<BucketSpec> bs{spec("a", Algorithm::FixedWindow, 10, milliseconds(60'000)),
                                   spec("b", Algorithm::TokenBucket, 10, milliseconds(60'000)),
                                   spec("c", Algorithm::SlidingWindow, 10, milliseconds(60'000))};
  for (const BucketSpec& b : bs) {
    ASSERT_TRUE(reserve(b, 4).admitted());
  }
  std::vector<BucketPeek> out;
  ASSERT_TRUE(store().peek(bs, now(), out, kNever));
  ASSERT_EQ(out.size(), 3u);
  for (const BucketPeek& p : out) {
    EXPECT_EQ(p.remaining, 6);
    EXPECT_EQ(p.used, 4);
  }
  ASSERT_TRUE(store().reset(bs, now(), out, kNever));
  ASSERT_TRUE(store().peek(bs, now(), out, kNever));
  for (const BucketPeek& p : out) {
    EXPECT_EQ(p.remaining, 10);
    EXPECT_FALSE(p.present);
  }
}

TEST_F(StoreOperatorsTest, AdjustIsForQuotasOnly) {
  BucketPeek p =
      adjust(spec("x", Algorithm::FixedWindow, 10, milliseconds(1'000)), Store::Adjust::Set, 5);
  EXPECT_EQ(p.status, StoreStatus::Invalid);
  EXPECT_FALSE(p.error.empty());
}

// ---- the Quota algorithm through the seam ----

TEST_F(StoreOperatorsTest, QuotaWithoutACounterIsUnlimitedAndNeverCreated) {
  const BucketSpec q = quotaBucket("alice");
  ReserveResult r = reserve(q, 1'000'000);
  EXPECT_TRUE(r.admitted());
  EXPECT_EQ(r.reservations[0].state.remaining, kUnlimited);
  EXPECT_EQ(r.reservations[0].charged, 0);
  settle(r, 500);  // a charge never creates a quota
  EXPECT_FALSE(peek(q).present);
  EXPECT_EQ(mem_.stats().entries, 0u);
}

TEST_F(StoreOperatorsTest, QuotaAdmitsWhilePositiveAndSettleGoesIntoDebt) {
  const BucketSpec q = quotaBucket("alice");
  EXPECT_EQ(adjust(q, Store::Adjust::Set, 10).remaining, 10);
  ReserveResult r = reserve(q, 1'000);  // the amount does not matter: remaining > 0
  ASSERT_TRUE(r.admitted());
  EXPECT_EQ(r.reservations[0].charged, 0);
  EXPECT_EQ(peek(q).remaining, 10);  // reserve charges nothing
  settle(r, 300);
  BucketPeek p = peek(q);
  EXPECT_TRUE(p.present);
  EXPECT_EQ(p.remaining, -290);
  ReserveResult no = reserve(q, 0, ReserveMode::CheckOnly);  // both modes need remaining > 0
  EXPECT_EQ(no.verdict, Verdict::OverLimit);
  EXPECT_EQ(no.retryIn.count(), 0);
  EXPECT_EQ(no.reservations[0].state.remaining, -290);
  EXPECT_EQ(adjust(q, Store::Adjust::Add, 300).remaining, 10);
  EXPECT_TRUE(reserve(q, 1).admitted());
}

TEST_F(StoreOperatorsTest, QuotaAddOnUnsetStartsFromZeroAndZeroIsBlocked) {
  const BucketSpec q = quotaBucket("bob");
  EXPECT_EQ(adjust(q, Store::Adjust::Add, 1000).remaining, 1000);
  EXPECT_EQ(adjust(q, Store::Adjust::Add, -1000).remaining, 0);
  EXPECT_EQ(reserve(q, 1).verdict, Verdict::OverLimit);
  BucketPeek gone = reset(q);  // remove: unlimited again
  EXPECT_FALSE(gone.present);
  EXPECT_FALSE(peek(q).present);
  EXPECT_TRUE(reserve(q, 1).admitted());
}

TEST_F(StoreOperatorsTest, QuotaNeverExpiresAndKeysAreIndependentOfWindowAndLimit) {
  BucketSpec q = quotaBucket("carol");
  adjust(q, Store::Adjust::Set, 7);
  at(400LL * 24 * 3600 * 1000);  // a year and more later, after a full sweep
  mem_.sweep(now());
  q.window = milliseconds(5);
  q.limit = 99;
  EXPECT_EQ(peek(q).remaining, 7);
  EXPECT_EQ(peek(q).limit, 0u);
}

TEST_F(StoreOperatorsTest, QuotaOverflowIsInvalidAndChangesNothing) {
  const BucketSpec q = quotaBucket("max");
  adjust(q, Store::Adjust::Set, INT64_MAX - 1);
  BucketPeek p = adjust(q, Store::Adjust::Add, 10);
  EXPECT_EQ(p.status, StoreStatus::Invalid);
  EXPECT_EQ(peek(q).remaining, INT64_MAX - 1);
  adjust(q, Store::Adjust::Set, INT64_MIN + 5);
  ReserveResult r = reserve(q, 1);
  settle(r, 100);  // saturates: a consumer deep in debt stays there
  EXPECT_EQ(peek(q).remaining, INT64_MIN);
}

TEST_F(StoreOperatorsTest, QuotaOfAFullStoreIsUnavailable) {
  MemoryStore tiny(MemoryStoreOptions{.shards = 1, .maxEntries = 1, .hashKey = {3, 4}});
  BucketPeek out;
  ASSERT_TRUE(tiny.adjust(quotaBucket("a"), Store::Adjust::Set, 1, now(), out, kNever));
  EXPECT_TRUE(out.ok());
  ASSERT_TRUE(tiny.adjust(quotaBucket("b"), Store::Adjust::Set, 1, now(), out, kNever));
  EXPECT_EQ(out.status, StoreStatus::Unavailable);
}

// ---- store/quota.h over the seam (the contract MemoryQuotaStore had) ----

TEST_F(StoreOperatorsTest, QuotaFunctionsKeepTheQuotaContract) {
  QuotaResult r;
  EXPECT_TRUE(quotaGet(store(), "alice", r, kNever));
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.remaining);
  EXPECT_TRUE(quotaCheck(store(), "alice", r, kNever));
  EXPECT_TRUE(r.allowed);
  EXPECT_FALSE(r.remaining);
  quotaCharge(store(), "alice", 50, now());
  quotaGet(store(), "alice", r, kNever);
  EXPECT_FALSE(r.remaining);  // charge never creates a quota

  quotaSet(store(), "alice", 100, r, kNever);
  EXPECT_EQ(r.remaining, 100);
  quotaAdd(store(), "alice", 50, r, kNever);
  EXPECT_EQ(r.remaining, 150);
  quotaAdd(store(), "alice", -20, r, kNever);
  EXPECT_EQ(r.remaining, 130);
  quotaCheck(store(), "alice", r, kNever);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 130);
  quotaCharge(store(), "alice", 200, now());
  quotaCharge(store(), "alice", 0, now());  // no-ops
  quotaCharge(store(), "alice", -5, now());
  quotaCheck(store(), "alice", r, kNever);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.remaining, -70);
  quotaRemove(store(), "alice", r, kNever);
  EXPECT_FALSE(r.remaining);
  quotaCheck(store(), "alice", r, kNever);
  EXPECT_TRUE(r.allowed);

  quotaAdd(store(), "bob", 1000, r, kNever);  // unset: from 0
  EXPECT_EQ(r.remaining, 1000);
  quotaSet(store(), "big", INT64_MAX - 1, r, kNever);
  quotaAdd(store(), "big", 10, r, kNever);
  EXPECT_EQ(r.status, QuotaStatus::Invalid);
  EXPECT_STREQ(quotaStatusName(QuotaStatus::Unavailable), "unavailable");
}

TEST_F(StoreOperatorsTest, ConcurrentQuotaChargesAreAllCounted) {
  QuotaResult r;
  quotaSet(store(), "alice", 100'000, r, kNever);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        QuotaResult c;
        quotaCheck(store(), "alice", c, nullptr);
        quotaCharge(store(), "alice", 7, now());
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  quotaGet(store(), "alice", r, kNever);
  EXPECT_EQ(r.remaining, 100'000 - 4 * 1000 * 7);
}

}  // namespace
}  // namespace tg::store
