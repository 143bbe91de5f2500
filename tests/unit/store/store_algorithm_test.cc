// The algorithms' math (store/algorithm.h) at their boundaries, without a store.
#include <gtest/gtest.h>

#include "store/algorithm.h"

namespace tg::store {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kT0 = 28'333'334 * kMinute;  // 2023-11-14T22:34:00Z, a minute boundary

Params params(Algorithm a, int64_t limit, int64_t windowMs) {
  BucketSpec spec;
  spec.algorithm = a;
  spec.limit = static_cast<uint64_t>(limit);
  spec.window = std::chrono::milliseconds(windowMs);
  return paramsFor(spec);
}

Counters at(const Params& p, Counters c, int64_t nowMs) {
  advance(p, c, nowMs);
  return c;
}

TEST(StoreAlgorithm, WindowsAreAlignedToTheEpoch) {
  Params p = params(Algorithm::FixedWindow, 100, kMinute);
  EXPECT_EQ(windowStartMs(p, kT0), kT0);
  EXPECT_EQ(windowStartMs(p, kT0 + kMinute - 1), kT0);
  EXPECT_EQ(windowStartMs(p, kT0 + kMinute), kT0 + kMinute);
  EXPECT_EQ(windowStartMs(p, kT0 - 1), kT0 - kMinute);
  Params hour = params(Algorithm::SlidingWindow, 1, 3'600'000);
  EXPECT_EQ(windowStartMs(hour, kT0) % 3'600'000, 0);
}

TEST(StoreAlgorithm, FixedWindowResetsExactlyAtTheBoundary) {
  Params p = params(Algorithm::FixedWindow, 100, kMinute);
  Counters c = freshCounters(p, kT0 + 5);
  EXPECT_EQ(c.stampMs, kT0);
  charge(p, c, 100, kT0 + 5);
  EXPECT_EQ(remaining(p, c, kT0 + 5), 0);
  EXPECT_EQ(retryInMs(p, c, kT0 + 5, 1), kMinute - 5);
  EXPECT_EQ(resetInMs(p, c, kT0 + 5), kMinute - 5);

  Counters last = at(p, c, kT0 + kMinute - 1);
  EXPECT_EQ(remaining(p, last, kT0 + kMinute - 1), 0);
  EXPECT_EQ(retryInMs(p, last, kT0 + kMinute - 1, 1), 1);

  Counters next = at(p, c, kT0 + kMinute);
  EXPECT_EQ(remaining(p, next, kT0 + kMinute), 100);
  EXPECT_EQ(next.previous, 100);
  EXPECT_EQ(retryInMs(p, next, kT0 + kMinute, 100), 0);
  EXPECT_EQ(resetInMs(p, next, kT0 + kMinute), 0);  // nothing used: already initial

  Counters later = at(p, c, kT0 + 2 * kMinute + 1);
  EXPECT_EQ(later.previous, 0);  // skipped a window: nothing carried
  EXPECT_EQ(later.stampMs, kT0 + 2 * kMinute);
}

TEST(StoreAlgorithm, SlidingWindowWeightsThePreviousWindow) {
  Params p = params(Algorithm::SlidingWindow, 100, kMinute);
  Counters c = freshCounters(p, kT0);
  charge(p, c, 100, kT0);
  // At the next window's start the previous 100 still weighs fully.
  Counters b0 = at(p, c, kT0 + kMinute);
  EXPECT_EQ(remaining(p, b0, kT0 + kMinute), 0);
  // 1 ms in: 100 * 59999/60000 = 99.998 rounds UP to 100 used.
  EXPECT_EQ(remaining(p, b0, kT0 + kMinute + 1), 0);
  // 1 token frees after 600 ms: 100 * 59400/60000 = 99.
  EXPECT_EQ(retryInMs(p, b0, kT0 + kMinute, 1), 600);
  EXPECT_EQ(remaining(p, b0, kT0 + kMinute + 599), 0);
  EXPECT_EQ(remaining(p, b0, kT0 + kMinute + 600), 1);
  EXPECT_EQ(remaining(p, b0, kT0 + kMinute + 30'000), 50);
  EXPECT_EQ(resetInMs(p, b0, kT0 + kMinute), kMinute);
  // Two windows later everything is gone.
  Counters c2 = at(p, c, kT0 + 2 * kMinute);
  EXPECT_EQ(remaining(p, c2, kT0 + 2 * kMinute), 100);
}

TEST(StoreAlgorithm, SlidingWindowRetryCanFallInTheNextWindow) {
  Params p = params(Algorithm::SlidingWindow, 100, kMinute);
  Counters c = freshCounters(p, kT0);
  charge(p, c, 80, kT0 + 10'000);
  // Need 50: not in this window (80 + 50 > 100). Next window: 80 * (W - e)/W <= 50 at
  // e = 22500, i.e. 50 s + 22.5 s from now.
  EXPECT_EQ(retryInMs(p, c, kT0 + 10'000, 50), 50'000 + 22'500);
  Counters n = at(p, c, kT0 + kMinute + 22'500);
  EXPECT_EQ(remaining(p, n, kT0 + kMinute + 22'500), 50);
  EXPECT_EQ(remaining(p, n, kT0 + kMinute + 22'499), 49);
}

TEST(StoreAlgorithm, SlidingWindowRetryMatchesRemainingEverywhere) {
  // Property: for many states, retryInMs is the first millisecond at which remaining >= need.
  Params p = params(Algorithm::SlidingWindow, 97, 1'000);
  for (int64_t prev : {0, 1, 13, 50, 97, 140}) {
    for (int64_t cur : {0, 1, 30, 96, 97, 120}) {
      for (int64_t need : {1, 2, 40, 97}) {
        Counters c{kT0, cur, prev};
        int64_t now = kT0 + 137;
        int64_t wait = retryInMs(p, c, now, need);
        ASSERT_LT(wait, 3'000);
        Counters then = at(p, c, now + wait);
        EXPECT_GE(remaining(p, then, now + wait), need) << prev << " " << cur << " " << need;
        if (wait > 0) {
          Counters before = at(p, c, now + wait - 1);
          EXPECT_LT(remaining(p, before, now + wait - 1), need)
              << prev << " " << cur << " " << need;
        }
      }
    }
  }
}

TEST(StoreAlgorithm, TokenBucketRefillsContinuouslyAndExactly) {
  Params p = params(Algorithm::TokenBucket, 100, kMinute);  // 1 token per 600 ms
  Counters c = freshCounters(p, kT0);
  EXPECT_EQ(remaining(p, c, kT0), 100);
  charge(p, c, 100, kT0);
  EXPECT_EQ(retryInMs(p, c, kT0, 1), 600);
  EXPECT_EQ(remaining(p, at(p, c, kT0 + 599), kT0 + 599), 0);
  EXPECT_EQ(remaining(p, at(p, c, kT0 + 600), kT0 + 600), 1);
  EXPECT_EQ(remaining(p, at(p, c, kT0 + 601), kT0 + 601), 1);
  EXPECT_EQ(resetInMs(p, c, kT0), kMinute);
  EXPECT_EQ(remaining(p, at(p, c, kT0 + 10 * kMinute), kT0 + 10 * kMinute), 100);  // capped

  // Stepping in small increments gives the same balance as one big step (no drift).
  Params q = params(Algorithm::TokenBucket, 7, 1'000);
  Counters a = freshCounters(q, kT0);
  charge(q, a, 7, kT0);
  Counters b = a;
  for (int64_t t = kT0 + 1; t <= kT0 + 999; ++t) {
    advance(q, a, t);
  }
  advance(q, b, kT0 + 999);
  EXPECT_EQ(a.current, b.current);
  EXPECT_EQ(a.previous, b.previous);
  EXPECT_EQ(a.current, 6);  // 999 * 7 / 1000 = 6.993
}

TEST(StoreAlgorithm, TokenBucketDebtDelaysTheNextAdmission) {
  Params p = params(Algorithm::TokenBucket, 100, kMinute);
  Counters c = freshCounters(p, kT0);
  charge(p, c, 100, kT0);
  settleInto(p, c, kT0, 50, kT0);  // used 150 of 100
  EXPECT_EQ(remaining(p, c, kT0), -50);
  EXPECT_EQ(retryInMs(p, c, kT0, 1), 51 * 600);
  EXPECT_EQ(resetInMs(p, c, kT0), 150 * 600);
  EXPECT_EQ(remaining(p, at(p, c, kT0 + 51 * 600 - 1), kT0 + 51 * 600 - 1), 0);
  EXPECT_EQ(remaining(p, at(p, c, kT0 + 51 * 600), kT0 + 51 * 600), 1);
}

TEST(StoreAlgorithm, TokenBucketRefundNeverExceedsCapacity) {
  Params p = params(Algorithm::TokenBucket, 100, kMinute);
  Counters c = freshCounters(p, kT0);
  charge(p, c, 30, kT0);
  settleInto(p, c, kT0, -50, kT0);
  EXPECT_EQ(remaining(p, c, kT0), 100);
  EXPECT_EQ(c.previous, 0);
}

TEST(StoreAlgorithm, SettleHitsTheReservedWindow) {
  Params fixed = params(Algorithm::FixedWindow, 100, kMinute);
  Counters f = freshCounters(fixed, kT0);
  charge(fixed, f, 60, kT0);
  advance(fixed, f, kT0 + kMinute);
  settleInto(fixed, f, kT0, -60, kT0 + kMinute);  // refund to a closed window: dropped
  EXPECT_EQ(f.current, 0);
  EXPECT_EQ(f.previous, 60);
  settleInto(fixed, f, kT0, 25, kT0 + kMinute);  // extra charge: goes to the current window
  EXPECT_EQ(f.current, 25);

  Params sliding = params(Algorithm::SlidingWindow, 100, kMinute);
  Counters s = freshCounters(sliding, kT0);
  charge(sliding, s, 60, kT0);
  advance(sliding, s, kT0 + kMinute);
  settleInto(sliding, s, kT0, -60, kT0 + kMinute);  // still weighted: refunded there
  EXPECT_EQ(s.previous, 0);
  EXPECT_EQ(remaining(sliding, s, kT0 + kMinute), 100);
  settleInto(sliding, s, kT0 + kMinute, 10, kT0 + kMinute);
  EXPECT_EQ(s.current, 10);
  settleInto(sliding, s, kT0 + kMinute, -30, kT0 + kMinute);  // never below zero
  EXPECT_EQ(s.current, 0);
}

TEST(StoreAlgorithm, ConcurrencyCountsInFlight) {
  Params p = params(Algorithm::Concurrency, 2, 0);
  Counters c = freshCounters(p, kT0);
  EXPECT_EQ(idleExpiryMs(p, c, kT0), kT0);
  charge(p, c, 1, kT0);
  charge(p, c, 1, kT0);
  EXPECT_EQ(remaining(p, c, kT0), 0);
  EXPECT_EQ(retryInMs(p, c, kT0, 1), 0);         // unknown
  EXPECT_EQ(idleExpiryMs(p, c, kT0), kNeverMs);  // no lease
  settleInto(p, c, kT0, -1, kT0);
  EXPECT_EQ(remaining(p, c, kT0), 1);
  settleInto(p, c, kT0, -5, kT0);
  EXPECT_EQ(c.current, 0);

  Params leased = params(Algorithm::Concurrency, 2, 10'000);
  Counters l = freshCounters(leased, kT0);
  charge(leased, l, 1, kT0 + 5);
  EXPECT_EQ(idleExpiryMs(leased, l, kT0 + 5), kT0 + 5 + 10'000);
}

TEST(StoreAlgorithm, NeedAndChargeByMode) {
  EXPECT_EQ(needFor(ReserveMode::Reserve, Algorithm::FixedWindow, 60), 60);
  EXPECT_EQ(needFor(ReserveMode::Reserve, Algorithm::FixedWindow, 0), 1);
  EXPECT_EQ(needFor(ReserveMode::Reserve, Algorithm::FixedWindow, -5), 1);
  EXPECT_EQ(needFor(ReserveMode::CheckOnly, Algorithm::TokenBucket, 1'000'000), 0);
  EXPECT_EQ(needFor(ReserveMode::CheckOnly, Algorithm::Concurrency, 1), 1);
  EXPECT_TRUE(chargesIn(ReserveMode::Reserve, Algorithm::SlidingWindow));
  EXPECT_FALSE(chargesIn(ReserveMode::CheckOnly, Algorithm::SlidingWindow));
  EXPECT_TRUE(chargesIn(ReserveMode::CheckOnly, Algorithm::Concurrency));

  Params p = params(Algorithm::FixedWindow, 100, kMinute);
  EXPECT_FALSE(neverFits(p, 100));
  EXPECT_TRUE(neverFits(p, 101));
  EXPECT_EQ(retryInMs(p, freshCounters(p, kT0), kT0, 101), kNeverMs);
  EXPECT_TRUE(neverFits(params(Algorithm::FixedWindow, 0, kMinute), 1));
}

TEST(StoreAlgorithm, IdleExpiryIsWhenTheStateIsFreshAgain) {
  Params fixed = params(Algorithm::FixedWindow, 100, kMinute);
  Counters f = freshCounters(fixed, kT0 + 10);
  EXPECT_EQ(idleExpiryMs(fixed, f, kT0 + 10), kT0 + 10);  // nothing counted
  charge(fixed, f, 1, kT0 + 10);
  EXPECT_EQ(idleExpiryMs(fixed, f, kT0 + 10), kT0 + kMinute);

  Params sliding = params(Algorithm::SlidingWindow, 100, kMinute);
  Counters s = freshCounters(sliding, kT0);
  charge(sliding, s, 1, kT0);
  EXPECT_EQ(idleExpiryMs(sliding, s, kT0), kT0 + 2 * kMinute);

  Params bucket = params(Algorithm::TokenBucket, 100, kMinute);
  Counters b = freshCounters(bucket, kT0);
  EXPECT_EQ(idleExpiryMs(bucket, b, kT0), kT0);
  charge(bucket, b, 10, kT0);
  EXPECT_EQ(idleExpiryMs(bucket, b, kT0), kT0 + 6'000);
}

TEST(StoreAlgorithm, ClockSteppingBackwardsGivesNoBudget) {
  Params fixed = params(Algorithm::FixedWindow, 100, kMinute);
  Counters f = freshCounters(fixed, kT0 + kMinute);
  charge(fixed, f, 100, kT0 + kMinute);
  advance(fixed, f, kT0 + 5);  // a minute back
  EXPECT_EQ(f.stampMs, kT0 + kMinute);
  EXPECT_EQ(remaining(fixed, f, kT0 + 5), 0);

  Params bucket = params(Algorithm::TokenBucket, 100, kMinute);
  Counters b = freshCounters(bucket, kT0 + kMinute);
  charge(bucket, b, 100, kT0 + kMinute);
  advance(bucket, b, kT0);
  EXPECT_EQ(remaining(bucket, b, kT0), 0);
  EXPECT_EQ(b.stampMs, kT0 + kMinute);
}

TEST(StoreAlgorithm, HugeValuesSaturateInsteadOfOverflowing) {
  BucketSpec spec;
  spec.algorithm = Algorithm::TokenBucket;
  spec.limit = UINT64_MAX;
  spec.window = std::chrono::milliseconds(86'400'000);
  Params p = paramsFor(spec);
  EXPECT_EQ(p.limit, kMaxCount);
  Counters c = freshCounters(p, kT0);
  charge(p, c, INT64_MAX, kT0);
  charge(p, c, INT64_MAX, kT0);
  EXPECT_EQ(c.current, -kMaxCount);
  advance(p, c, kT0 + 365LL * 86'400'000);
  EXPECT_EQ(c.current, kMaxCount);

  Params s = params(Algorithm::SlidingWindow, kMaxCount, 86'400'000);
  Counters w{kT0, kMaxCount, kMaxCount};
  EXPECT_EQ(remaining(s, w, kT0 + 1), -kMaxCount + kMaxCount / 86'400'000);  // exact, no wrap
  EXPECT_GT(retryInMs(s, w, kT0 + 1, 1), 0);
}

TEST(StoreAlgorithm, ParamsNormaliseTheWindow) {
  EXPECT_EQ(params(Algorithm::FixedWindow, 1, 0).windowMs, 1);
  EXPECT_EQ(params(Algorithm::TokenBucket, 1, -5).windowMs, 1);
  EXPECT_EQ(params(Algorithm::Concurrency, 1, 0).windowMs, 0);
}

}  // namespace
}  // namespace tg::store
