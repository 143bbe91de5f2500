// RedisStore against a real redis-server: operations issued in one turn of the event loop
// travel in one batch script run, in order, with exactly the results separate runs would give
// (the all-or-nothing bound under a burst of concurrent reserves); a full batch splits; a
// settle rides with the next reserve or goes on its own after kSettleDelay; a Redis that is
// down fails every operation of the batch with StoreError.
#include "redis/redis_store.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "redis_server.h"
#include "run_until.h"

namespace tg::redis {
namespace {

namespace net = boost::asio;
using std::chrono::milliseconds;
using store::Algorithm;
using store::BucketSpec;
using store::ReserveMode;
using store::ReserveResult;
using store::Verdict;
using tg::testing::RedisServer;
using tg::testing::runUntil;

BucketSpec spec(std::string key, uint64_t limit, Algorithm a = Algorithm::FixedWindow) {
  BucketSpec s;
  s.key = std::move(key);
  s.algorithm = a;
  s.limit = limit;
  s.window = milliseconds(60'000);
  return s;
}

// One request's reserve: its buckets, amounts and result stay put until it completes.
struct Request {
  std::vector<BucketSpec> buckets;
  std::vector<int64_t> amounts;
  ReserveResult result;
  bool done = false;
};

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!tg::testing::redisServerAvailable()) {
      GTEST_SKIP() << "redis-server is not installed";
    }
    server_ = std::make_unique<RedisServer>();
    RedisStoreOptions o;
    o.client.seeds = {Endpoint{"127.0.0.1", server_->port()}};
    o.client.commandTimeout = milliseconds(500);
    o.client.connectTimeout = milliseconds(500);
    store_ = std::make_unique<RedisStore>(io_.get_executor(), o);
    ASSERT_TRUE(runUntil(io_, [&] { return store_->health() == Health::Up; }));
  }

  // Starts a reserve without running the event loop: every call before the next run is in
  // the same turn.
  Request& start(std::vector<BucketSpec> buckets, std::vector<int64_t> amounts) {
    Request& r = requests_.emplace_back();
    r.buckets = std::move(buckets);
    r.amounts = std::move(amounts);
    EXPECT_FALSE(store_->reserveStart(r.buckets, r.amounts, ReserveMode::Reserve, {}, r.result,
                                      [&r] { r.done = true; }));
    return r;
  }

  bool allDone() {
    return runUntil(io_, [&] {
      for (const Request& r : requests_) {
        if (!r.done) {
          return false;
        }
      }
      return true;
    });
  }

  int64_t used(const BucketSpec& b) {
    std::vector<store::BucketPeek> out;
    bool done = false;
    EXPECT_FALSE(store_->peek(std::span(&b, 1), {}, out, [&] { done = true; }));
    EXPECT_TRUE(runUntil(io_, [&] { return done; }));
    return out.size() == 1 && out[0].ok() ? out[0].used : -1;
  }

  net::io_context io_;
  std::unique_ptr<RedisServer> server_;
  std::unique_ptr<RedisStore> store_;
  std::deque<Request> requests_;
};

TEST_F(RedisStoreTest, ABurstTravelsInOneRunWithTheExactBoundInOrder) {
  const BucketSpec tokens = spec("tpm:consumer:alice", 100);
  const BucketSpec reqs = spec("rpm:consumer:alice", 1000);
  for (int i = 0; i < 30; ++i) {
    start({tokens, reqs}, {10, 1});
  }
  ASSERT_TRUE(allDone());
  EXPECT_EQ(store_->stats().batches, 1u);
  EXPECT_EQ(store_->stats().reserves, 30u);
  for (size_t i = 0; i < requests_.size(); ++i) {
    const ReserveResult& r = requests_[i].result;
    ASSERT_EQ(r.reservations.size(), 2u);
    if (i < 10) {  // the first ten, in the order they were issued
      EXPECT_TRUE(r.admitted()) << i;
      EXPECT_EQ(r.reservations[0].state.remaining, 100 - 10 * static_cast<int64_t>(i + 1));
      EXPECT_EQ(r.reservations[1].charged, 1);
    } else {
      EXPECT_EQ(r.verdict, Verdict::OverLimit) << i;
      EXPECT_EQ(r.decisiveIndex, 0u);
      EXPECT_EQ(r.reservations[1].charged, 0);  // all or nothing
    }
  }
  EXPECT_EQ(used(tokens), 100);
  EXPECT_EQ(used(reqs), 10);
}

TEST_F(RedisStoreTest, SettlesRideWithTheNextReserveOrGoAloneSoonAfter) {
  const BucketSpec tokens = spec("tpm:consumer:bob", 100);
  Request& a = start({tokens}, {40});
  ASSERT_TRUE(allDone());
  ASSERT_TRUE(a.result.admitted());
  const uint64_t before = store_->stats().batches;

  // A settle and a reserve issued in the same turn: one run, the refund first.
  store_->settle(a.result.reservations, std::vector<int64_t>{-30}, {});
  Request& b = start({tokens}, {85});
  ASSERT_TRUE(allDone());
  EXPECT_EQ(store_->stats().batches, before + 1);
  EXPECT_TRUE(b.result.admitted());  // 10 + 85 <= 100 only after the refund
  EXPECT_EQ(b.result.reservations[0].state.remaining, 5);

  // A settle on its own is sent within kSettleDelay, no reserve needed.
  store_->settle(b.result.reservations, std::vector<int64_t>{-80}, {});
  ASSERT_TRUE(runUntil(io_, [&] { return store_->stats().batches == before + 2; }));
  EXPECT_EQ(used(tokens), 15);
  EXPECT_EQ(store_->stats().settleErrors, 0u);
}

TEST_F(RedisStoreTest, AFullBatchIsSentAtOnceAndTheRestFollows) {
  const size_t n = 2 * RedisStore::kMaxBatchOps + 5;
  for (size_t i = 0; i < n; ++i) {
    start({spec("rpm:consumer:c" + std::to_string(i % 7), 1'000'000)}, {1});
  }
  ASSERT_TRUE(allDone());
  EXPECT_EQ(store_->stats().batches, 3u);
  for (const Request& r : requests_) {
    EXPECT_TRUE(r.result.admitted());
  }
  EXPECT_EQ(used(spec("rpm:consumer:c0", 1'000'000)), static_cast<int64_t>((n + 6) / 7));
}

TEST_F(RedisStoreTest, RedisDownFailsEveryOperationOfTheBatch) {
  server_->kill();
  for (int i = 0; i < 5; ++i) {
    start({spec("tpm:consumer:dan", 100)}, {1});
  }
  ASSERT_TRUE(allDone());
  for (const Request& r : requests_) {
    EXPECT_EQ(r.result.verdict, Verdict::StoreError);
    ASSERT_EQ(r.result.reservations.size(), 1u);
    EXPECT_EQ(r.result.reservations[0].charged, 0);
  }
  EXPECT_EQ(store_->stats().reserveErrors, 5u);
}

}  // namespace
}  // namespace tg::redis
