// RedisStore records its own calls into the store families (store/stats.h): against a port
// nothing listens on, a reserve is timed and counted as failed, and a settle's failure too.
// One io_context on this thread, no Redis server needed.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "metrics/registry.h"
#include "redis/redis_store.h"
#include "store/stats.h"

namespace tg::redis {
namespace {

using namespace std::chrono_literals;

uint64_t errorsOf(store::StoreStats& stats, std::string_view op) {
  uint64_t n = 0;
  for (const char* e : {"timeout", "unavailable", "protocol", "reply"}) {
    n += stats.errors.labels({"redis", op, e}).value();
  }
  return n;
}

TEST(RedisStoreStats, AFailedReserveAndSettleAreTimedAndCounted) {
  metrics::Registry registry;
  store::StoreStats stats(registry);
  boost::asio::io_context io;
  RedisStoreOptions o;
  o.client.seeds = {Endpoint{"127.0.0.1", 1}};  // nothing listens on port 1
  o.client.connectTimeout = 200ms;
  o.client.commandTimeout = 200ms;
  o.stats = &stats;
  RedisStore rs(io.get_executor(), o);

  store::BucketSpec b;
  b.key = "k";
  b.algorithm = store::Algorithm::FixedWindow;
  b.limit = 10;
  b.window = std::chrono::minutes(1);
  const std::vector<store::BucketSpec> buckets{b};
  const std::vector<int64_t> amounts{1};
  store::ReserveResult out;
  bool done = false;
  ASSERT_FALSE(rs.reserveStart(buckets, amounts, store::ReserveMode::Reserve,
                               std::chrono::system_clock::now(), out, [&] { done = true; }));
  for (int i = 0; i < 50 && !done; ++i) {
    io.run_for(100ms);
  }
  ASSERT_TRUE(done);
  EXPECT_EQ(out.verdict, store::Verdict::StoreError);
  EXPECT_EQ(stats.operations.labels({"redis", "reserve"}).value(), 1u);
  EXPECT_EQ(stats.duration.labels({"redis", "reserve"}).count(), 1u);
  EXPECT_EQ(errorsOf(stats, "reserve"), 1u);

  store::Reservation r;
  r.bucket = b;
  rs.settle(std::vector{r}, std::vector<int64_t>{5}, std::chrono::system_clock::now());
  for (int i = 0; i < 50 && errorsOf(stats, "settle") == 0; ++i) {
    io.run_for(100ms);
  }
  EXPECT_EQ(stats.operations.labels({"redis", "settle"}).value(), 1u);
  EXPECT_EQ(errorsOf(stats, "settle"), 1u);
  // Settles are not waited for, so not timed.
  EXPECT_EQ(registry.expose().find("tokengate_store_duration_seconds_count{store=\"redis\","
                                   "op=\"settle\"}"),
            std::string::npos);
  rs.stop();
  io.run_for(100ms);
}

}  // namespace
}  // namespace tg::redis
