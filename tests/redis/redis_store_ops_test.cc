// RedisStore's operator calls and quota buckets against a real redis-server, through the
// store::Store& interface and store/quota.h: peek and reset of rate-limit buckets, and the quota
// semantics (no quota = unlimited, charge never creates one, debt) under the Redis keys
// Higress's ai-quota shares (<prefix>quota:{<consumer>}, a plain integer), Redis down, a value
// that is not an integer. (Formerly redis_quota_test.cc, against the deleted RedisQuotaStore.)
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "redis/redis_store.h"
#include "redis/scripts.h"
#include "redis_server.h"
#include "run_until.h"
#include "store/quota.h"

namespace tg::redis {
namespace {

using std::chrono::milliseconds;
using store::QuotaResult;
using store::QuotaStatus;
using tg::testing::RedisServer;
using tg::testing::runUntil;

class RedisStoreOpsTest : public ::testing::Test {
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
  store::Store& store() { return *store_; }

  // Runs one asynchronous call to completion on the test's io_context.
  template <typename Op>
  void await(Op op) {
    bool done = false;
    EXPECT_FALSE(op([&done] { done = true; }));  // Redis never decides inline
    EXPECT_TRUE(runUntil(io_, [&] { return done; }));
  }
  QuotaResult get(const std::string& c) {
    QuotaResult r;
    await([&](auto d) { return store::quotaGet(store(), c, r, d); });
    return r;
  }
  QuotaResult check(const std::string& c) {
    QuotaResult r;
    await([&](auto d) { return store::quotaCheck(store(), c, r, d); });
    return r;
  }
  QuotaResult set(const std::string& c, int64_t v) {
    QuotaResult r;
    await([&](auto d) { return store::quotaSet(store(), c, v, r, d); });
    return r;
  }
  QuotaResult add(const std::string& c, int64_t v) {
    QuotaResult r;
    await([&](auto d) { return store::quotaAdd(store(), c, v, r, d); });
    return r;
  }
  QuotaResult remove(const std::string& c) {
    QuotaResult r;
    await([&](auto d) { return store::quotaRemove(store(), c, r, d); });
    return r;
  }
  // A charge is fire-and-forget: wait until Redis has it.
  void charge(const std::string& c, int64_t tokens) {
    const uint64_t before = store_->stats().settles;
    store::quotaCharge(store(), c, tokens, {});
    if (tokens > 0) {
      EXPECT_EQ(store_->stats().settles, before + 1);
    }
    io_.run_for(milliseconds(50));
    io_.restart();
  }
  std::vector<store::BucketPeek> peek(const std::vector<store::BucketSpec>& bs) {
    std::vector<store::BucketPeek> out;
    await([&](auto d) { return store().peek(bs, {}, out, d); });
    return out;
  }

  boost::asio::io_context io_;
  std::unique_ptr<RedisServer> server_;
  std::unique_ptr<RedisStore> store_;
};

TEST_F(RedisStoreOpsTest, QuotaKeyLayoutIsHigressAiQuotas) {
  EXPECT_EQ(redisKeyFor("tg:", store::quotaBucket("alice")), "tg:quota:{alice}");
  EXPECT_FALSE(store_->decidesInline());
}

TEST_F(RedisStoreOpsTest, PeekAndResetRateLimitBuckets) {
  store::BucketSpec b;
  b.key = "tpm:consumer:alice";
  b.limit = 100;
  b.window = milliseconds(60'000);
  const std::vector<store::BucketSpec> bs{b};
  const std::vector<int64_t> amounts{30};
  store::ReserveResult r;
  await([&](auto d) {
    return store().reserveStart(bs, amounts, store::ReserveMode::Reserve, {}, r, d);
  });
  ASSERT_TRUE(r.admitted());
  std::vector<store::BucketPeek> p = peek(bs);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_TRUE(p[0].ok());
  EXPECT_TRUE(p[0].present);
  EXPECT_EQ(p[0].used, 30);
  EXPECT_EQ(p[0].remaining, 70);
  EXPECT_GT(p[0].resetIn.count(), 0);
  std::vector<store::BucketPeek> out;
  await([&](auto d) { return store().reset(bs, {}, out, d); });
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].ok());
  EXPECT_EQ(out[0].remaining, 100);
  p = peek(bs);
  EXPECT_EQ(p[0].used, 0);
  EXPECT_FALSE(p[0].present);
}

TEST_F(RedisStoreOpsTest, NoQuotaMeansUnlimited) {
  QuotaResult r = get("alice");
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.remaining.has_value());
  r = check("alice");
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.allowed);
  EXPECT_FALSE(r.remaining.has_value());
}

TEST_F(RedisStoreOpsTest, SetIncreaseDecreaseAreSeenByRedisCli) {
  EXPECT_EQ(set("alice", 1000).remaining, 1000);
  EXPECT_EQ(server_->cli("GET 'tg:quota:{alice}'"), "1000");
  EXPECT_EQ(add("alice", 500).remaining, 1500);
  EXPECT_EQ(add("alice", -200).remaining, 1300);
  EXPECT_EQ(get("alice").remaining, 1300);
  server_->cli("SET 'tg:quota:{alice}' 42");  // an operator's redis-cli change is read back
  EXPECT_EQ(get("alice").remaining, 42);
}

TEST_F(RedisStoreOpsTest, AddOnUnsetStartsFromZero) {
  EXPECT_EQ(add("bob", 300).remaining, 300);
  EXPECT_EQ(add("carol", -5).remaining, -5);
  EXPECT_FALSE(check("carol").allowed);
}

TEST_F(RedisStoreOpsTest, AdmittedWhilePositiveThenChargedIntoDebt) {
  set("alice", 10);
  QuotaResult r = check("alice");
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 10);
  charge("alice", 300);
  r = check("alice");
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.remaining, -290);
  EXPECT_EQ(store_->stats().settleErrors, 0u);
  set("zero", 0);
  EXPECT_FALSE(check("zero").allowed);
}

TEST_F(RedisStoreOpsTest, ChargeNeverCreatesAQuota) {
  charge("dave", 100);
  EXPECT_EQ(server_->cli("EXISTS 'tg:quota:{dave}'"), "0");
  EXPECT_TRUE(check("dave").allowed);
  charge("dave", 0);  // no-op, nothing sent
}

TEST_F(RedisStoreOpsTest, RemoveMakesUnlimitedAgain) {
  set("alice", 0);
  QuotaResult r = remove("alice");
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.remaining.has_value());
  EXPECT_TRUE(check("alice").allowed);
  EXPECT_EQ(server_->cli("EXISTS 'tg:quota:{alice}'"), "0");
}

TEST_F(RedisStoreOpsTest, GarbageValueAndOverflowAreInvalid) {
  server_->cli("SET 'tg:quota:{eve}' lots");
  QuotaResult r = get("eve");
  EXPECT_EQ(r.status, QuotaStatus::Invalid);
  EXPECT_NE(r.error.find("not an integer"), std::string::npos) << r.error;
  r = check("eve");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.allowed);  // fail open; the caller may test status
  EXPECT_EQ(add("eve", 1).status, QuotaStatus::Invalid);
  set("max", INT64_MAX - 1);
  EXPECT_EQ(add("max", 10).status, QuotaStatus::Invalid);
  EXPECT_EQ(get("max").remaining, INT64_MAX - 1);
}

TEST_F(RedisStoreOpsTest, RedisDownIsUnavailable) {
  set("alice", 5);
  server_->kill();
  QuotaResult r = check("alice");
  EXPECT_EQ(r.status, QuotaStatus::Unavailable);
  EXPECT_TRUE(r.allowed);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(set("alice", 7).status, QuotaStatus::Unavailable);
  EXPECT_EQ(get("alice").status, QuotaStatus::Unavailable);
  store::quotaCharge(store(), "alice", 1, {});
  EXPECT_TRUE(runUntil(io_, [&] { return store_->stats().settleErrors == 1; }));
}

}  // namespace
}  // namespace tg::redis
