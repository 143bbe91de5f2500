// Reservation sizing, the too-large check and settlement deltas.
#include "limiter/reservation.h"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

namespace tg::limiter {
namespace {

using store::Algorithm;
using store::BucketSpec;

BucketSpec bucket(Algorithm a, uint64_t limit) {
  BucketSpec b;
  b.key = "k";
  b.algorithm = a;
  b.limit = limit;
  return b;
}

TEST(Reservation, SizesByMode) {
  EXPECT_EQ(reservationFor(1'200, 800, ReservationMode::None, 4'096), 0u);
  EXPECT_EQ(reservationFor(1'200, 800, ReservationMode::PromptOnly, 4'096), 1'200u);
  EXPECT_EQ(reservationFor(1'200, 800, ReservationMode::PromptPlusMax, 4'096), 2'000u);
  EXPECT_EQ(reservationFor(1'200, std::nullopt, ReservationMode::PromptPlusMax, 4'096), 5'296u);
  EXPECT_EQ(reservationFor(1'200, 0, ReservationMode::PromptPlusMax, 4'096), 1'200u);
}

TEST(Reservation, SaturatesAtTheLargestStoreAmount) {
  const uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  EXPECT_EQ(reservationFor(UINT64_MAX, 1, ReservationMode::PromptPlusMax, 0), kMax);
  EXPECT_EQ(reservationFor(UINT64_MAX - 1, 5, ReservationMode::PromptPlusMax, 0), kMax);
  EXPECT_EQ(reservationFor(UINT64_MAX, 0, ReservationMode::PromptOnly, 0), kMax);
}

TEST(Reservation, FindsTheFirstBucketTheRequestCanNeverFit) {
  std::vector<BucketSpec> buckets{bucket(Algorithm::FixedWindow, 100'000),
                                  bucket(Algorithm::TokenBucket, 30'000),
                                  bucket(Algorithm::SlidingWindow, 10'000)};
  EXPECT_EQ(findTooLarge(buckets, std::vector<int64_t>{30'000, 30'000, 10'000}), std::nullopt);
  EXPECT_EQ(findTooLarge(buckets, std::vector<int64_t>{36'055, 36'055, 36'055}), 1u);
  EXPECT_EQ(findTooLarge(buckets, std::vector<int64_t>{100'001, 1, 1}), 0u);
  // A zero limit admits nothing, not even a zero reservation.
  std::vector<BucketSpec> zero{bucket(Algorithm::FixedWindow, 0)};
  EXPECT_EQ(findTooLarge(zero, std::vector<int64_t>{0}), 0u);
  // Concurrency: 1 slot of a limit of 1 fits.
  std::vector<BucketSpec> conc{bucket(Algorithm::Concurrency, 1)};
  EXPECT_EQ(findTooLarge(conc, std::vector<int64_t>{1}), std::nullopt);
}

TEST(Reservation, SettlementDeltaIsActualMinusCharged) {
  store::Reservation r;
  r.bucket = bucket(Algorithm::TokenBucket, 100);
  r.charged = 60;
  EXPECT_EQ(settlementDelta(r, 45), -15);  // refund
  EXPECT_EQ(settlementDelta(r, 80), 20);   // extra charge (may go into debt)
  EXPECT_EQ(settlementDelta(r, 60), 0);
  r.charged = 0;  // CheckOnly: the whole usage is charged after
  EXPECT_EQ(settlementDelta(r, 75), 75);
  r.bucket.algorithm = Algorithm::Concurrency;
  r.charged = 1;
  EXPECT_EQ(settlementDelta(r, 5'000), -1);  // releases its slot whatever was used
  r.bucket.algorithm = Algorithm::FixedWindow;
  r.charged = std::numeric_limits<int64_t>::min() + 1;
  EXPECT_EQ(settlementDelta(r, std::numeric_limits<int64_t>::max()),
            std::numeric_limits<int64_t>::max());
}

}  // namespace
}  // namespace tg::limiter
