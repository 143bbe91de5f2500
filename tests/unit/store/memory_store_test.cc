// MemoryStore semantics, single-threaded, with a ManualClock stepped across window boundaries.
#include "store/memory_store.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bucket_spec.h"
#include "core/clock.h"

namespace tg::store {
namespace {

using test::kT0Ms;
using test::spec;

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

class MemoryStoreTest : public ::testing::Test {
 protected:
  MemoryStoreTest() { clock_.set(milliseconds(kT0Ms)); }

  TimePoint now() const { return clock_.wallNow(); }
  void at(int64_t msAfterT0) { clock_.set(milliseconds(kT0Ms + msAfterT0)); }

  ReserveResult reserve(const std::vector<BucketSpec>& buckets, std::vector<int64_t> amounts,
                        ReserveMode mode = ReserveMode::Reserve) {
    return store_.reserve(buckets, amounts, mode, now());
  }
  ReserveResult reserve1(const BucketSpec& b, int64_t amount,
                         ReserveMode mode = ReserveMode::Reserve) {
    return reserve({b}, {amount}, mode);
  }
  void settle(const ReserveResult& r, std::vector<int64_t> deltas) {
    store_.settle(r.reservations, deltas, now());
  }
  // Remaining of a bucket as a zero-cost probe sees it (CheckOnly charges nothing).
  int64_t remainingOf(const BucketSpec& b) {
    return reserve1(b, 0, ReserveMode::CheckOnly).reservations[0].state.remaining;
  }

  core::ManualClock clock_;
  MemoryStore store_{MemoryStoreOptions{
      .shards = 64, .maxEntries = 1 << 16, .sweepPerOperation = 4, .hashKey = {11, 22}}};
};

TEST_F(MemoryStoreTest, FixedWindowAdmitsUpToTheLimitAndResetsAtTheBoundary) {
  const BucketSpec b = spec("tpm:alice", Algorithm::FixedWindow, 100, minutes(1));
  at(5);
  ReserveResult r = reserve1(b, 60);
  ASSERT_TRUE(r.admitted());
  EXPECT_EQ(r.reservations[0].charged, 60);
  EXPECT_EQ(r.reservations[0].state.limit, 100u);
  EXPECT_EQ(r.reservations[0].state.remaining, 40);
  EXPECT_EQ(r.reservations[0].state.resetIn, milliseconds(60'000 - 5));
  EXPECT_EQ(r.reservations[0].windowStart, TimePoint(milliseconds(kT0Ms)));

  EXPECT_TRUE(reserve1(b, 40).admitted());  // exactly the limit
  at(60'000 - 1);                           // last millisecond of the window
  r = reserve1(b, 1);
  EXPECT_EQ(r.verdict, Verdict::OverLimit);
  EXPECT_EQ(r.retryIn, milliseconds(1));
  EXPECT_EQ(r.reservations[0].state.remaining, 0);
  EXPECT_EQ(r.reservations[0].charged, 0);

  at(60'000);  // first millisecond of the next window
  r = reserve1(b, 100);
  ASSERT_TRUE(r.admitted());
  EXPECT_EQ(r.reservations[0].windowStart, TimePoint(milliseconds(kT0Ms + 60'000)));
  at(60'001);
  EXPECT_EQ(reserve1(b, 1).verdict, Verdict::OverLimit);
}

TEST_F(MemoryStoreTest, WindowsAreAlignedSoEveryInstanceAgrees) {
  MemoryStore other;  // random hash secret: a second gateway instance
  const BucketSpec b = spec("k", Algorithm::FixedWindow, 10, seconds(10));
  at(23'456);
  ReserveResult mine = reserve1(b, 1);
  ReserveResult theirs =
      other.reserve(std::vector{b}, std::vector<int64_t>{1}, ReserveMode::Reserve, now());
  EXPECT_EQ(mine.reservations[0].windowStart, theirs.reservations[0].windowStart);
  EXPECT_EQ(mine.reservations[0].windowStart, TimePoint(milliseconds(kT0Ms + 20'000)));
  EXPECT_EQ(mine.reservations[0].state.resetIn, theirs.reservations[0].state.resetIn);
}

TEST_F(MemoryStoreTest, SlidingWindowCarriesThePreviousWindow) {
  const BucketSpec b = spec("s", Algorithm::SlidingWindow, 100, minutes(1));
  ASSERT_TRUE(reserve1(b, 100).admitted());
  at(60'000);
  ReserveResult r = reserve1(b, 1);
  EXPECT_EQ(r.verdict, Verdict::OverLimit);
  EXPECT_EQ(r.retryIn, milliseconds(600));
  at(60'599);
  EXPECT_EQ(reserve1(b, 1).verdict, Verdict::OverLimit);
  at(60'600);
  EXPECT_TRUE(reserve1(b, 1).admitted());
  at(90'000);  // half the previous window still weighs: 50 + 1 used
  EXPECT_EQ(remainingOf(b), 49);
}

TEST_F(MemoryStoreTest, TokenBucketDebtDelaysTheNextAdmission) {
  const BucketSpec b = spec("tb", Algorithm::TokenBucket, 100, minutes(1));  // 1 per 600 ms
  ReserveResult r = reserve1(b, 100);
  ASSERT_TRUE(r.admitted());
  EXPECT_EQ(r.reservations[0].state.resetIn, milliseconds(60'000));
  settle(r, {50});  // used 150
  EXPECT_EQ(remainingOf(b), -50);
  r = reserve1(b, 1);
  EXPECT_EQ(r.verdict, Verdict::OverLimit);
  EXPECT_EQ(r.retryIn, milliseconds(51 * 600));
  at(51 * 600 - 1);
  EXPECT_EQ(reserve1(b, 1).verdict, Verdict::OverLimit);
  at(51 * 600);
  EXPECT_TRUE(reserve1(b, 1).admitted());
}

TEST_F(MemoryStoreTest, RefundReturnsBudgetAndDebtBlocksEvenZeroReservations) {
  const BucketSpec b = spec("f", Algorithm::FixedWindow, 100, minutes(1));
  ReserveResult r = reserve1(b, 100);
  settle(r, {-70});  // used 30 of the 100 reserved
  EXPECT_EQ(remainingOf(b), 70);
  r = reserve1(b, 70);
  ASSERT_TRUE(r.admitted());
  settle(r, {40});  // used 110 of 70: debt
  EXPECT_EQ(remainingOf(b), -40);
  r = reserve1(b, 0);  // ReservationMode::None still needs budget left
  EXPECT_EQ(r.verdict, Verdict::OverLimit);
  EXPECT_EQ(r.reservations[0].state.remaining, -40);
  at(60'000);
  EXPECT_TRUE(reserve1(b, 0).admitted());  // a fixed window forgets debt at the boundary
}

TEST_F(MemoryStoreTest, AllOrNothingWhenTheSecondBucketIsFull) {
  const BucketSpec big = spec("global", Algorithm::FixedWindow, 1000, minutes(1));
  const BucketSpec small = spec("consumer:bob", Algorithm::TokenBucket, 10, minutes(1));
  ASSERT_TRUE(reserve1(small, 8).admitted());
  ReserveResult r = reserve({big, small}, {50, 5});
  EXPECT_EQ(r.verdict, Verdict::OverLimit);
  EXPECT_EQ(r.decisiveIndex, 1u);
  EXPECT_EQ(r.reservations[0].state.verdict, Verdict::Admitted);
  EXPECT_EQ(r.reservations[1].state.verdict, Verdict::OverLimit);
  EXPECT_EQ(r.reservations[0].charged, 0);
  EXPECT_EQ(r.reservations[1].charged, 0);
  EXPECT_EQ(r.reservations[0].state.remaining, 1000);  // not charged
  EXPECT_EQ(r.reservations[1].state.remaining, 2);
  EXPECT_EQ(r.retryIn, milliseconds(3 * 6'000));  // 3 more tokens at 1 per 6 s
  EXPECT_EQ(remainingOf(big), 1000);
  EXPECT_EQ(remainingOf(small), 2);
  // Both fit: both charged.
  r = reserve({big, small}, {10, 2});
  ASSERT_TRUE(r.admitted());
  EXPECT_EQ(remainingOf(big), 990);
  EXPECT_EQ(remainingOf(small), 0);
}

TEST_F(MemoryStoreTest, AllOrNothingAcrossManyShards) {
  std::vector<BucketSpec> buckets;
  std::vector<int64_t> amounts;
  for (int i = 0; i < 40; ++i) {  // 40 keys over 64 shards: many shards, some shared
    buckets.push_back(spec("k" + std::to_string(i), Algorithm::FixedWindow, 100, minutes(1)));
    amounts.push_back(10);
  }
  ASSERT_TRUE(reserve1(buckets[37], 95).admitted());
  ReserveResult r = reserve(buckets, amounts);
  EXPECT_EQ(r.verdict, Verdict::OverLimit);
  EXPECT_EQ(r.decisiveIndex, 37u);
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(remainingOf(buckets[i]), i == 37 ? 5 : 100) << i;
  }
  amounts[37] = 5;
  EXPECT_TRUE(reserve(buckets, amounts).admitted());
  EXPECT_EQ(remainingOf(buckets[0]), 90);
  EXPECT_EQ(remainingOf(buckets[37]), 0);
}

TEST_F(MemoryStoreTest, TheSameBucketTwiceInOneRequestCountsBoth) {
  const BucketSpec b = spec("dup", Algorithm::FixedWindow, 100, minutes(1));
  EXPECT_EQ(reserve({b, b}, {60, 60}).verdict, Verdict::OverLimit);
  EXPECT_EQ(remainingOf(b), 100);
  EXPECT_TRUE(reserve({b, b}, {50, 50}).admitted());
  EXPECT_EQ(remainingOf(b), 0);
}

TEST_F(MemoryStoreTest, CheckOnlyIsHigressCompatible) {
  // Higress: reject when current > threshold; charge the real usage after the response.
  const BucketSpec b = spec("higress", Algorithm::FixedWindow, 100, minutes(1));
  ReserveResult r = reserve1(b, 1'000, ReserveMode::CheckOnly);  // never TooLarge
  ASSERT_TRUE(r.admitted());
  EXPECT_EQ(r.reservations[0].charged, 0);
  settle(r, {100});  // used exactly the threshold: still admits
  r = reserve1(b, 500, ReserveMode::CheckOnly);
  ASSERT_TRUE(r.admitted());
  EXPECT_EQ(r.reservations[0].state.remaining, 0);
  settle(r, {1});  // 101 > 100
  at(1'000);
  r = reserve1(b, 1, ReserveMode::CheckOnly);
  EXPECT_EQ(r.verdict, Verdict::OverLimit);
  EXPECT_EQ(r.retryIn, milliseconds(59'000));  // Higress's TTL: the window's end
  at(60'000);
  EXPECT_TRUE(reserve1(b, 1, ReserveMode::CheckOnly).admitted());
}

TEST_F(MemoryStoreTest, CheckOnlyStillCountsConcurrency) {
  const BucketSpec tokens = spec("t", Algorithm::FixedWindow, 100, minutes(1));
  const BucketSpec inflight = spec("c", Algorithm::Concurrency, 1, minutes(10));
  ReserveResult first = reserve({tokens, inflight}, {500, 1}, ReserveMode::CheckOnly);
  ASSERT_TRUE(first.admitted());
  EXPECT_EQ(first.reservations[0].charged, 0);
  EXPECT_EQ(first.reservations[1].charged, 1);
  EXPECT_EQ(reserve({tokens, inflight}, {500, 1}, ReserveMode::CheckOnly).verdict,
            Verdict::OverLimit);
  settle(first, {70, -1});
  EXPECT_TRUE(reserve({tokens, inflight}, {500, 1}, ReserveMode::CheckOnly).admitted());
  EXPECT_EQ(remainingOf(tokens), 30);
}

TEST_F(MemoryStoreTest, SettleHitsTheReservedWindowAfterItRolled) {
  const BucketSpec sliding = spec("s", Algorithm::SlidingWindow, 100, minutes(1));
  const BucketSpec fixed = spec("f", Algorithm::FixedWindow, 100, minutes(1));
  at(59'000);
  ReserveResult rs = reserve1(sliding, 60);
  ReserveResult rf = reserve1(fixed, 60);
  at(60'000);                                    // both windows rolled while the requests ran
  ASSERT_TRUE(reserve1(fixed, 100).admitted());  // fixed: a fresh window
  EXPECT_EQ(remainingOf(sliding), 40);           // sliding: the 60 still weighs fully
  // Both requests used nothing.
  settle(rs, {-60});
  settle(rf, {-60});
  EXPECT_EQ(remainingOf(sliding), 100);  // refunded in the previous window
  EXPECT_EQ(remainingOf(fixed), 0);      // the refund is not free budget in the new window
  // An extra charge on a closed fixed window lands in the current one.
  settle(rf, {25});
  EXPECT_EQ(remainingOf(fixed), -25);
}

TEST_F(MemoryStoreTest, ConcurrencyBucketsHoldSlotsUntilSettled) {
  const BucketSpec c = spec("inflight:alice", Algorithm::Concurrency, 2, minutes(10));
  ReserveResult a = reserve1(c, 1);
  ReserveResult b = reserve1(c, 1);
  ASSERT_TRUE(a.admitted());
  ASSERT_TRUE(b.admitted());
  ReserveResult r = reserve1(c, 1);
  EXPECT_EQ(r.verdict, Verdict::OverLimit);
  EXPECT_EQ(r.retryIn, milliseconds(0));  // unknown
  settle(a, {-1});
  ReserveResult third = reserve1(c, 1);
  ASSERT_TRUE(third.admitted());
  settle(b, {-1});
  EXPECT_EQ(remainingOf(c), 1);
  settle(third, {-1});
  settle(third, {-1});  // a double release never goes below zero
  EXPECT_EQ(remainingOf(c), 2);
  EXPECT_TRUE(reserve({c, c}, {1, 1}).admitted());
}

TEST_F(MemoryStoreTest, ConcurrencyLeaseFreesLeakedSlots) {
  const BucketSpec c = spec("lease", Algorithm::Concurrency, 1, seconds(30));
  ASSERT_TRUE(reserve1(c, 1).admitted());  // never settled
  at(29'999);
  EXPECT_EQ(reserve1(c, 1).verdict, Verdict::OverLimit);
  at(30'000);
  EXPECT_TRUE(reserve1(c, 1).admitted());
}

TEST_F(MemoryStoreTest, PenaltyBlocksTheKeyAfterAnOverLimitRejection) {
  const BucketSpec b = spec("p", Algorithm::FixedWindow, 10, minutes(1), minutes(5));
  ASSERT_TRUE(reserve1(b, 10).admitted());
  at(1'000);
  ReserveResult r = reserve1(b, 1);
  EXPECT_EQ(r.verdict, Verdict::OverLimit);
  EXPECT_EQ(r.retryIn, minutes(5));  // the block, not the window end
  EXPECT_EQ(r.reservations[0].state.resetIn, minutes(5));
  EXPECT_EQ(store_.stats().penaltiesStarted, 1u);

  at(61'000);  // new window, still blocked
  r = reserve1(b, 1);
  EXPECT_EQ(r.verdict, Verdict::Blocked);
  EXPECT_EQ(r.retryIn, milliseconds(240'000));
  EXPECT_EQ(reserve1(b, 1, ReserveMode::CheckOnly).verdict, Verdict::Blocked);
  at(300'999);  // attempts while blocked did not extend it
  EXPECT_EQ(reserve1(b, 1).verdict, Verdict::Blocked);
  at(301'000);
  EXPECT_TRUE(reserve1(b, 1).admitted());
  EXPECT_EQ(store_.stats().penaltiesStarted, 1u);
}

TEST_F(MemoryStoreTest, PenaltyOnlyForTheBucketThatWasOverItsLimit) {
  const BucketSpec strict = spec("strict", Algorithm::FixedWindow, 10, minutes(1), minutes(5));
  const BucketSpec other = spec("other", Algorithm::FixedWindow, 10, minutes(1), minutes(5));
  ASSERT_TRUE(reserve1(other, 10).admitted());
  EXPECT_EQ(reserve({strict, other}, {5, 5}).verdict, Verdict::OverLimit);
  EXPECT_TRUE(reserve1(strict, 5).admitted());  // strict had room: not blocked
  EXPECT_EQ(reserve1(strict, 100).verdict, Verdict::TooLarge);
  EXPECT_TRUE(reserve1(strict, 5).admitted());  // too large is not a penalty either
}

TEST_F(MemoryStoreTest, TooLargeIsRejectedAtOnceAndNothingIsCharged) {
  const BucketSpec small = spec("tpm", Algorithm::TokenBucket, 100, minutes(1));
  const BucketSpec big = spec("tpd", Algorithm::FixedWindow, 10'000, std::chrono::hours(24));
  ReserveResult r = reserve({big, small}, {101, 101});
  EXPECT_EQ(r.verdict, Verdict::TooLarge);
  EXPECT_EQ(r.decisiveIndex, 1u);
  EXPECT_EQ(r.retryIn, milliseconds(0));
  EXPECT_EQ(remainingOf(big), 10'000);
  const BucketSpec zero = spec("zero", Algorithm::FixedWindow, 0, minutes(1));
  EXPECT_EQ(reserve1(zero, 0).verdict, Verdict::TooLarge);
}

TEST_F(MemoryStoreTest, ThresholdEditsKeepCountersWindowEditsDoNot) {
  BucketSpec b = spec("edit", Algorithm::FixedWindow, 100, minutes(1));
  ASSERT_TRUE(reserve1(b, 80).admitted());
  b.limit = 200;
  EXPECT_EQ(remainingOf(b), 120);
  b.window = minutes(2);
  EXPECT_EQ(remainingOf(b), 200);
}

TEST_F(MemoryStoreTest, NoBucketsMeansAdmitted) {
  ReserveResult r = reserve({}, {});
  EXPECT_TRUE(r.admitted());
  EXPECT_TRUE(r.reservations.empty());
}

TEST_F(MemoryStoreTest, MissingAmountsAndDeltasCountAsZero) {
  const BucketSpec b = spec("m", Algorithm::FixedWindow, 10, minutes(1));
  ReserveResult r = reserve({b, b}, {4});
  ASSERT_TRUE(r.admitted());
  EXPECT_EQ(r.reservations[1].charged, 0);
  store_.settle(r.reservations, std::vector<int64_t>{-4}, now());
  EXPECT_EQ(remainingOf(b), 10);
}

TEST_F(MemoryStoreTest, AResultObjectCanBeReused) {
  const BucketSpec a = spec("reuse:a", Algorithm::FixedWindow, 10, minutes(1));
  const BucketSpec b = spec("reuse:b-with-a-key-longer-than-the-small-string-buffer",
                            Algorithm::TokenBucket, 10, minutes(1));
  ReserveResult out;
  std::vector<BucketSpec> two{a, b};
  std::vector<int64_t> amounts{1, 2};
  store_.reserveInto(two, amounts, ReserveMode::Reserve, now(), out);
  ASSERT_TRUE(out.admitted());
  std::vector<BucketSpec> one{b};
  store_.reserveInto(one, std::vector<int64_t>{20}, ReserveMode::Reserve, now(), out);
  EXPECT_EQ(out.verdict, Verdict::TooLarge);
  ASSERT_EQ(out.reservations.size(), 1u);
  EXPECT_EQ(out.reservations[0].bucket.key, b.key);
  store_.reserveInto(two, amounts, ReserveMode::Reserve, now(), out);
  ASSERT_TRUE(out.admitted());
  EXPECT_EQ(out.reservations[1].state.remaining, 6);
}

TEST_F(MemoryStoreTest, OvershootIsBoundedByTheReservation) {
  // Issue 4: limit 100 tokens per minute, 20 requests of 60 in flight at once.
  const BucketSpec b = spec("overshoot", Algorithm::FixedWindow, 100, minutes(1));
  std::vector<ReserveResult> inflight;
  int admitted = 0;
  for (int i = 0; i < 20; ++i) {
    inflight.push_back(reserve1(b, 60));
    admitted += inflight.back().admitted() ? 1 : 0;
  }
  EXPECT_EQ(admitted, 1);  // floor(100 / 60)
  for (const ReserveResult& r : inflight) {
    if (r.admitted()) {
      settle(r, {0});  // used exactly the reservation
    }
  }
  EXPECT_EQ(remainingOf(b), 40);  // recorded usage = what was really used

  // Higress-compatible mode, same load: every check passes, all 20 are charged afterwards.
  const BucketSpec h = spec("overshoot-higress", Algorithm::FixedWindow, 100, minutes(1));
  std::vector<ReserveResult> checks;
  for (int i = 0; i < 20; ++i) {
    checks.push_back(reserve1(h, 60, ReserveMode::CheckOnly));
  }
  int passed = 0;
  for (const ReserveResult& r : checks) {
    passed += r.admitted() ? 1 : 0;
    settle(r, {60});
  }
  EXPECT_EQ(passed, 20);
  EXPECT_EQ(remainingOf(h), 100 - 20 * 60);  // overshoot 1100 tokens (11x the limit)
}

TEST_F(MemoryStoreTest, IdleBucketsExpireAndAreReclaimed) {
  for (int i = 0; i < 1'000; ++i) {
    ASSERT_TRUE(
        reserve1(spec("idle" + std::to_string(i), Algorithm::FixedWindow, 10, minutes(1)), 1)
            .admitted());
  }
  ASSERT_TRUE(reserve1(spec("tb", Algorithm::TokenBucket, 10, minutes(1)), 10).admitted());
  EXPECT_EQ(store_.stats().entries, 1'001u);
  at(59'999);
  EXPECT_EQ(store_.sweep(now()), 0u);  // nothing idle yet
  at(60'000);
  EXPECT_EQ(store_.sweep(now()), 1'001u);  // windows over, token bucket full again
  MemoryStoreStats s = store_.stats();
  EXPECT_EQ(s.entries, 0u);
  EXPECT_GE(s.expiredReclaimed, 1'001u);
}

TEST(MemoryStoreSweep, PerOperationSweepsReclaimTheShardsInUse) {
  // Each operation examines a few slots of the shards it touched; idle shards wait for
  // sweep() or for their bound. One shard here, so the hot key's operations reach every entry.
  core::ManualClock clock;
  clock.set(milliseconds(kT0Ms));
  MemoryStore store(MemoryStoreOptions{.shards = 1, .maxEntries = 10'000, .sweepPerOperation = 4});
  for (int i = 0; i < 500; ++i) {
    store.reserve(
        std::vector{spec("old" + std::to_string(i), Algorithm::FixedWindow, 10, seconds(1))},
        std::vector<int64_t>{1}, ReserveMode::Reserve, clock.wallNow());
  }
  EXPECT_EQ(store.stats().entries, 500u);
  clock.advance(seconds(1));
  const std::vector<BucketSpec> hot{spec("hot", Algorithm::FixedWindow, 1'000'000, minutes(1))};
  for (int i = 0; i < 500; ++i) {
    ReserveResult r =
        store.reserve(hot, std::vector<int64_t>{1}, ReserveMode::Reserve, clock.wallNow());
    store.settle(r.reservations, std::vector<int64_t>{-1}, clock.wallNow());
  }
  EXPECT_LE(store.stats().entries, 1u);  // at most the hot key
}

TEST_F(MemoryStoreTest, BlockedBucketsAreKeptUntilTheBlockEnds) {
  const BucketSpec b = spec("kept", Algorithm::FixedWindow, 1, seconds(1), minutes(1));
  reserve1(b, 1);
  reserve1(b, 1);  // over: blocked for a minute
  at(2'000);
  store_.sweep(now());
  EXPECT_EQ(store_.stats().entries, 1u);
  EXPECT_EQ(reserve1(b, 1).verdict, Verdict::Blocked);
  at(60'000);
  store_.sweep(now());
  EXPECT_EQ(store_.stats().entries, 0u);
}

TEST(MemoryStoreBound, NewKeysAreRejectedWhenFullExistingKeysKeepWorking) {
  core::ManualClock clock;
  clock.set(milliseconds(kT0Ms));
  MemoryStore store(MemoryStoreOptions{.shards = 1, .maxEntries = 100, .sweepPerOperation = 0});
  auto one = [&](const std::string& key, int64_t amount) {
    return store.reserve(std::vector{spec(key, Algorithm::FixedWindow, 10, minutes(1))},
                         std::vector<int64_t>{amount}, ReserveMode::Reserve, clock.wallNow());
  };
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(one("key" + std::to_string(i), 1).admitted()) << i;
  }
  ReserveResult r = one("newcomer", 1);
  EXPECT_EQ(r.verdict, Verdict::StoreFull);
  EXPECT_EQ(r.reservations[0].state.verdict, Verdict::StoreFull);
  EXPECT_TRUE(one("key7", 1).admitted());
  MemoryStoreStats s = store.stats();
  EXPECT_EQ(s.entries, 100u);
  EXPECT_EQ(s.reservesStoreFull, 1u);
  EXPECT_LE(s.bytes, 256 * MemoryStore::bytesPerSlot() + 4096);

  clock.advance(minutes(1));  // every window over: the next insert reclaims them
  EXPECT_TRUE(one("newcomer", 1).admitted());
  EXPECT_EQ(store.stats().entries, 1u);
}

TEST(MemoryStoreBound, SettleThatNeedsANewBucketWhenFullIsDroppedAndCounted) {
  core::ManualClock clock;
  clock.set(milliseconds(kT0Ms));
  MemoryStore store(MemoryStoreOptions{.shards = 1, .maxEntries = 1, .sweepPerOperation = 0});
  const BucketSpec a = spec("a", Algorithm::FixedWindow, 10, minutes(1));
  const BucketSpec b = spec("b", Algorithm::TokenBucket, 10, minutes(1));
  ReserveResult rb = store.reserve(std::vector{b}, std::vector<int64_t>{0}, ReserveMode::CheckOnly,
                                   clock.wallNow());  // b is fresh: nothing kept
  ASSERT_TRUE(
      store.reserve(std::vector{a}, std::vector<int64_t>{1}, ReserveMode::Reserve, clock.wallNow())
          .admitted());
  store.settle(rb.reservations, std::vector<int64_t>{5}, clock.wallNow());
  EXPECT_EQ(store.stats().settleDropped, 1u);
}

TEST(MemoryStoreBytes, ReportsBytesPerBucket) {
  core::ManualClock clock;
  clock.set(milliseconds(kT0Ms));
  MemoryStore store;
  const MemoryStoreStats empty = store.stats();
  constexpr int kBuckets = 100'000;
  for (int i = 0; i < kBuckets; ++i) {
    store.reserve(std::vector{spec("consumer:" + std::to_string(i), Algorithm::TokenBucket, 100'000,
                                   minutes(1))},
                  std::vector<int64_t>{1}, ReserveMode::Reserve, clock.wallNow());
  }
  const MemoryStoreStats s = store.stats();
  ASSERT_EQ(s.entries, static_cast<uint64_t>(kBuckets));
  const double perBucket = static_cast<double>(s.bytes - empty.bytes) / kBuckets;
  std::printf(
      "MemoryStore: %zu bytes per slot; %d buckets use %llu bytes in %llu slots "
      "(load %.2f) = %.1f bytes per bucket; empty store %llu bytes\n",
      MemoryStore::bytesPerSlot(), kBuckets, static_cast<unsigned long long>(s.bytes),
      static_cast<unsigned long long>(s.slots), static_cast<double>(s.entries) / s.slots, perBucket,
      static_cast<unsigned long long>(empty.bytes));
  EXPECT_EQ(MemoryStore::bytesPerSlot(), 56u);
  EXPECT_LE(perBucket, 56 / 0.375 + 1);  // load never below 3/8 after a doubling
  EXPECT_LE(empty.bytes, 64u * 256u);    // shard structs only: no slot array yet
}

}  // namespace
}  // namespace tg::store
