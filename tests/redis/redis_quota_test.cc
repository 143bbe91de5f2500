// RedisQuotaStore against a real redis-server: the keys and commands of redis_quota.h, the
// store/quota.h semantics (no quota = unlimited, charge never creates one, debt), Redis down,
// a value that is not an integer, and the admin server's quota endpoints over Redis.
#include "redis/redis_quota.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "redis_server.h"
#include "run_until.h"

namespace tg::redis {
namespace {

namespace net = boost::asio;
using std::chrono::milliseconds;
using tg::testing::RedisServer;
using Clock = std::chrono::steady_clock;


using tg::testing::runUntil;

Options optionsFor(const RedisServer& s) {
  Options o;
  o.seeds = {Endpoint{"127.0.0.1", s.port()}};
  o.commandTimeout = milliseconds(500);
  o.connectTimeout = milliseconds(500);
  return o;
}

class RedisQuotaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!tg::testing::redisServerAvailable()) {
      GTEST_SKIP() << "redis-server is not installed";
    }
    server_ = std::make_unique<RedisServer>();
    store_ = std::make_unique<RedisQuotaStore>(io_.get_executor(), optionsFor(*server_), "tg:");
    ASSERT_TRUE(runUntil(io_, [&] { return store_->client().health() == Health::Up; }));
  }

  // Runs one operation to completion on the test's io_context.
  template <typename Op>
  store::QuotaResult run(Op op) {
    store::QuotaResult r;
    bool done = false;
    bool inlineDone = op(r, [&done] { done = true; });
    EXPECT_FALSE(inlineDone);  // Redis never decides inline
    EXPECT_TRUE(runUntil(io_, [&] { return done; }));
    return r;
  }
  store::QuotaResult get(const std::string& c) {
    return run([&](auto& r, auto d) { return store_->get(c, r, d); });
  }
  store::QuotaResult check(const std::string& c) {
    return run([&](auto& r, auto d) { return store_->check(c, r, d); });
  }
  store::QuotaResult set(const std::string& c, int64_t v) {
    return run([&](auto& r, auto d) { return store_->set(c, v, r, d); });
  }
  store::QuotaResult add(const std::string& c, int64_t v) {
    return run([&](auto& r, auto d) { return store_->add(c, v, r, d); });
  }
  store::QuotaResult remove(const std::string& c) {
    return run([&](auto& r, auto d) { return store_->remove(c, r, d); });
  }
  // A charge is fire-and-forget: wait until Redis shows its effect (or a round trip passed).
  void chargeAndSettle(const std::string& c, int64_t tokens) {
    store_->charge(c, tokens);
    get(c);  // same connection, pipelined behind the charge: it has run when this answers
  }

  net::io_context io_;
  std::unique_ptr<RedisServer> server_;
  std::unique_ptr<RedisQuotaStore> store_;
};

TEST_F(RedisQuotaTest, KeyLayout) {
  EXPECT_EQ(store_->keyOf("alice"), "tg:quota:{alice}");
  EXPECT_FALSE(store_->decidesInline());
}

TEST_F(RedisQuotaTest, NoQuotaMeansUnlimited) {
  store::QuotaResult r = get("alice");
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.remaining.has_value());
  r = check("alice");
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.allowed);
  EXPECT_FALSE(r.remaining.has_value());
}

TEST_F(RedisQuotaTest, SetIncreaseDecreaseAreSeenByRedisCli) {
  EXPECT_EQ(set("alice", 1000).remaining, 1000);
  EXPECT_EQ(server_->cli("GET 'tg:quota:{alice}'"), "1000");
  EXPECT_EQ(add("alice", 500).remaining, 1500);
  EXPECT_EQ(add("alice", -200).remaining, 1300);
  EXPECT_EQ(get("alice").remaining, 1300);
  // An operator's redis-cli change is what the gateway reads (Higress's ai-quota layout).
  server_->cli("SET 'tg:quota:{alice}' 42");
  EXPECT_EQ(get("alice").remaining, 42);
}

TEST_F(RedisQuotaTest, AddOnUnsetStartsFromZero) {
  EXPECT_EQ(add("bob", 300).remaining, 300);
  EXPECT_EQ(add("carol", -5).remaining, -5);
  EXPECT_FALSE(check("carol").allowed);
}

TEST_F(RedisQuotaTest, AdmittedWhilePositiveThenChargedIntoDebt) {
  set("alice", 10);
  store::QuotaResult r = check("alice");
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 10);
  chargeAndSettle("alice", 300);
  r = check("alice");
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.remaining, -290);
  EXPECT_EQ(store_->stats().charges, 1u);
  EXPECT_EQ(store_->stats().chargeErrors, 0u);
  set("zero", 0);
  EXPECT_FALSE(check("zero").allowed);
}

TEST_F(RedisQuotaTest, ChargeNeverCreatesAQuota) {
  chargeAndSettle("dave", 100);
  EXPECT_EQ(server_->cli("EXISTS 'tg:quota:{dave}'"), "0");
  EXPECT_TRUE(check("dave").allowed);
  store_->charge("dave", 0);  // no-op, nothing sent
  EXPECT_EQ(store_->stats().charges, 1u);
}

TEST_F(RedisQuotaTest, RemoveMakesUnlimitedAgain) {
  set("alice", 0);
  store::QuotaResult r = remove("alice");
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.remaining.has_value());
  EXPECT_TRUE(check("alice").allowed);
  EXPECT_EQ(server_->cli("EXISTS 'tg:quota:{alice}'"), "0");
}

TEST_F(RedisQuotaTest, GarbageValueAndOverflowAreInvalid) {
  server_->cli("SET 'tg:quota:{eve}' lots");
  store::QuotaResult r = get("eve");
  EXPECT_EQ(r.status, store::QuotaStatus::Invalid);
  EXPECT_NE(r.error.find("not an integer"), std::string::npos) << r.error;
  r = check("eve");
  EXPECT_EQ(r.status, store::QuotaStatus::Invalid);
  EXPECT_TRUE(r.allowed);  // fail open; the caller may test status
  r = add("eve", 1);
  EXPECT_EQ(r.status, store::QuotaStatus::Invalid);
  set("max", INT64_MAX - 1);
  r = add("max", 10);
  EXPECT_EQ(r.status, store::QuotaStatus::Invalid);
  EXPECT_EQ(get("max").remaining, INT64_MAX - 1);
}

TEST_F(RedisQuotaTest, RedisDownIsUnavailable) {
  set("alice", 5);
  server_->kill();
  store::QuotaResult r = check("alice");
  EXPECT_EQ(r.status, store::QuotaStatus::Unavailable);
  EXPECT_TRUE(r.allowed);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(set("alice", 7).status, store::QuotaStatus::Unavailable);
  store_->charge("alice", 1);
  EXPECT_TRUE(runUntil(io_, [&] { return store_->stats().chargeErrors == 1; }));
}

TEST_F(RedisQuotaTest, BorrowedClientSharesTheCounters) {
  RedisQuotaStore borrowed(store_->client(), "tg:");
  set("alice", 50);
  store::QuotaResult r;
  bool done = false;
  EXPECT_FALSE(borrowed.add("alice", 25, r, [&] { done = true; }));
  ASSERT_TRUE(runUntil(io_, [&] { return done; }));
  EXPECT_EQ(r.remaining, 75);
  EXPECT_EQ(get("alice").remaining, 75);
}

}  // namespace
}  // namespace tg::redis
