// The store backends' metrics (store/stats.h): MemoryStore counts every call and its StoreFull
// errors (reserve, settle, a quota set) into the store families, and creates only the series
// it can produce.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/clock.h"
#include "metrics/registry.h"
#include "store/memory_store.h"
#include "store/quota.h"
#include "store/stats.h"

namespace tg::store {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;

BucketSpec fixed(std::string key, uint64_t limit) {
  BucketSpec s;
  s.key = std::move(key);
  s.algorithm = Algorithm::FixedWindow;
  s.limit = limit;
  s.window = minutes(1);
  return s;
}

TEST(StoreStats, MemoryStoreCountsItsCallsAndFullErrors) {
  metrics::Registry registry;
  StoreStats stats(registry);
  core::ManualClock clock;
  clock.set(milliseconds(28'333'334LL * 60'000));
  MemoryStore store(MemoryStoreOptions{
      .shards = 1, .maxEntries = 2, .sweepPerOperation = 0, .hashKey = {1, 2}, .stats = &stats});
  auto reserve = [&](const std::string& key) {
    return store.reserve(std::vector{fixed(key, 10)}, std::vector<int64_t>{1}, ReserveMode::Reserve,
                         clock.wallNow());
  };
  const ReserveResult a = reserve("a");
  ASSERT_TRUE(a.admitted());
  ASSERT_TRUE(reserve("b").admitted());
  EXPECT_EQ(reserve("c").verdict, Verdict::StoreFull);  // a third bucket does not fit
  store.settle(a.reservations, std::vector<int64_t>{2}, clock.wallNow());
  // A quota needs a new bucket, and the shard's two places are taken by live ones: full.
  BucketPeek adjusted;
  ASSERT_TRUE(store.adjust(quotaBucket("alice"), Store::Adjust::Set, 100, clock.wallNow(),
                           adjusted, nullptr));
  EXPECT_EQ(adjusted.status, StoreStatus::Unavailable);
  std::vector<BucketPeek> peeked;
  ASSERT_TRUE(store.peek(std::vector{fixed("a", 10)}, clock.wallNow(), peeked, nullptr));
  ASSERT_TRUE(store.reset(std::vector{fixed("b", 10)}, clock.wallNow(), peeked, nullptr));

  EXPECT_EQ(stats.operations.labels({"memory", "reserve"}).value(), 3u);
  EXPECT_EQ(stats.operations.labels({"memory", "settle"}).value(), 1u);
  EXPECT_EQ(stats.operations.labels({"memory", "peek"}).value(), 1u);
  EXPECT_EQ(stats.operations.labels({"memory", "reset"}).value(), 1u);
  EXPECT_EQ(stats.errors.labels({"memory", "reserve", "full"}).value(), 1u);
  EXPECT_EQ(stats.errors.labels({"memory", "settle", "full"}).value(), 0u);
  EXPECT_EQ(stats.operations.labels({"memory", "adjust"}).value(), 1u);
  EXPECT_EQ(stats.errors.labels({"memory", "adjust", "full"}).value(), 1u);

  // Not timed, and no error kind it cannot produce.
  const std::string s = registry.expose();
  EXPECT_EQ(s.find("tokengate_store_duration_seconds_count{store=\"memory\""), std::string::npos);
  EXPECT_EQ(s.find("op=\"peek\",error="), std::string::npos);
  EXPECT_NE(s.find("tokengate_store_errors_total{store=\"memory\",op=\"reserve\",error=\"full\"} "
                   "1\n"),
            std::string::npos);
}

TEST(StoreStats, WithoutStatsNothingIsRecorded) {
  StoreRecorder none;
  EXPECT_FALSE(none);
  none.count(StoreOp::Reserve);  // a no-op, not a crash
  none.error(StoreOp::Settle, StoreError::Full);
  MemoryStore store;  // no stats: works as before
  EXPECT_TRUE(store
                  .reserve(std::vector{fixed("k", 1)}, std::vector<int64_t>{1},
                           ReserveMode::Reserve, std::chrono::system_clock::now())
                  .admitted());
}

}  // namespace
}  // namespace tg::store
