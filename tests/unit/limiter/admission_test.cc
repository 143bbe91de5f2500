// limiter::Admission against a real MemoryStore with a ManualClock: reservation sizing per
// policy, all-or-nothing across strict and Higress-compatible groups (rollback), shadow
// buckets, settle exactly once (refund, extra charge, debt), too-large, penalties and the
// headers a client receives.

#include "limiter/admission.h"

#include <gtest/gtest.h>

#include "core/clock.h"
#include "limiter/compile.h"
#include "limiter_test_support.h"
#include "store/memory_store.h"

namespace tg::limiter {
namespace {

// Token usage as (input, of which cached, output).
tg::core::TokenUsage used(uint64_t input, uint64_t cached, uint64_t output) {
  tg::core::TokenUsage u;
  u.inputTokens = input;
  u.cachedInputTokens = cached;
  u.outputTokens = output;
  return u;
}

using namespace std::chrono_literals;
constexpr auto load = testing::loadPolicies;

class AdmissionTest : public ::testing::Test {
 protected:
  AdmissionTest() { clock.set(std::chrono::hours(24 * 20000) + 5s); }  // 5 s into a minute

  RequestFacts facts(std::string_view user = "u1") {
    user_ = std::string(user);
    RequestFacts f;
    f.header = [this](std::string_view n) -> std::optional<std::string_view> {
      if (n == "x-user") return std::string_view(user_);
      return std::nullopt;
    };
    f.route = "chat";
    f.model = "gpt-4o";
    f.clientIp = "10.0.0.1";
    return f;
  }
  store::TimePoint now() const { return clock.wallNow(); }
  // Remaining tokens of the first token bucket, as the client's headers would say.
  std::string headers(const Admission& a) {
    std::string h;
    a.appendHeaders(h);
    return h;
  }

  core::ManualClock clock;
  store::MemoryStore store;
  std::string user_;
};

const char* kPerUser = R"(
rate_limits:
  policies:
  - name: p
    default_max_tokens: 50
    rules:
    - by: per_header
      header: x-user
      limits: [{tokens: 100, per: minute}]
)";

TEST_F(AdmissionTest, ReservesPromptPlusMaxAndSettlesTheRealUsage) {
  PolicySet set = load(kPerUser);
  Admission a;
  EXPECT_EQ(a.admit(set, store, nullptr, facts(), {10, 30}, now()), Outcome::Allowed);
  EXPECT_EQ(a.reservedTokens(), 40);
  EXPECT_NE(headers(a).find("x-ratelimit-remaining-tokens: 60\r\n"), std::string::npos);
  a.settle(used(10, 0, 5), now());  // used 15 of the 40 reserved: refund 25
  EXPECT_TRUE(a.settled());
  a.settle(used(1000, 0, 1000), now());  // exactly once: ignored
  Admission b;
  EXPECT_EQ(b.admit(set, store, nullptr, facts(), {10, 30}, now()), Outcome::Allowed);
  EXPECT_NE(headers(b).find("x-ratelimit-remaining-tokens: 45\r\n"), std::string::npos);
}

TEST_F(AdmissionTest, DefaultMaxTokensWhenTheRequestSetsNone) {
  PolicySet set = load(kPerUser);
  Admission a;
  a.admit(set, store, nullptr, facts(), {10, std::nullopt}, now());
  EXPECT_EQ(a.reservedTokens(), 60);
}

TEST_F(AdmissionTest, RejectsWithRetryHeadersAndChargesNothing) {
  PolicySet set = load(kPerUser);
  Admission a;
  ASSERT_EQ(a.admit(set, store, nullptr, facts(), {40, 40}, now()), Outcome::Allowed);
  Admission b;
  EXPECT_EQ(b.admit(set, store, nullptr, facts(), {20, 20}, now()), Outcome::Rejected);
  ASSERT_NE(b.decisive(), nullptr);
  EXPECT_EQ(b.decisive()->value, "u1");
  EXPECT_EQ(b.decisiveAmount(), 40);
  EXPECT_EQ(b.retryIn(), 55s);  // the window ends 55 s later
  std::string h = headers(b);
  EXPECT_NE(h.find("retry-after: 55\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("retry-after-ms: 55000\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("x-ratelimit-remaining-tokens: 20\r\n"), std::string::npos) << h;
  b.settle(used(1000, 0, 1000), now());  // a rejected request settles nothing
  // Another user has its own bucket.
  Admission c;
  EXPECT_EQ(c.admit(set, store, nullptr, facts("u2"), {40, 40}, now()), Outcome::Allowed);
  // The first user fits again in the next window.
  clock.advance(55s);
  Admission d;
  EXPECT_EQ(d.admit(set, store, nullptr, facts(), {20, 20}, now()), Outcome::Allowed);
}

TEST_F(AdmissionTest, TooLargeIsNotRetryable) {
  PolicySet set = load(kPerUser);
  Admission a;
  EXPECT_EQ(a.admit(set, store, nullptr, facts(), {90, 20}, now()), Outcome::TooLarge);
  std::string h = headers(a);
  EXPECT_NE(h.find("x-should-retry: false\r\n"), std::string::npos) << h;
  EXPECT_EQ(h.find("retry-after"), std::string::npos) << h;
}

TEST_F(AdmissionTest, SettleMayGoIntoDebt) {
  PolicySet set = load(kPerUser);
  Admission a;
  ASSERT_EQ(a.admit(set, store, nullptr, facts(), {10, 10}, now()), Outcome::Allowed);
  a.settle(used(10, 0, 140), now());  // 150 used, limit 100
  Admission b;
  EXPECT_EQ(b.admit(set, store, nullptr, facts(), {1, 1}, now()), Outcome::Rejected);
  EXPECT_NE(headers(b).find("x-ratelimit-remaining-tokens: 0\r\n"), std::string::npos);
}

TEST_F(AdmissionTest, ReservationModesAndWeights) {
  PolicySet set = load(R"(
rate_limits:
  policies:
  - name: none
    reservation: none
    rules: [{by: global, limits: [{tokens: 100, per: minute}]}]
  - name: prompt
    reservation: prompt
    rules: [{by: global, limits: [{tokens: 100, per: minute}]}]
  - name: weighted
    weights: {input: 1, cached_input: 0.1, output: 4}
    rules:
    - by: global
      limits: [{weighted_tokens: 1000, per: minute}, {output_tokens: 500, per: minute},
               {input_tokens: 500, per: minute}, {requests: 3, per: minute}]
)");
  Admission a;
  ASSERT_EQ(a.admit(set, store, nullptr, facts(), {10, 20}, now()), Outcome::Allowed);
  // none: 0; prompt: 10; weighted: 10 + 4*20 = 90; output 20; input 10; requests 1.
  EXPECT_EQ(a.reservedTokens(), 90);
  // Settle: 60 input of which 30 cached, 10 output. none/prompt: 70 used; weighted:
  // 30 + 30*0.1 + 4*10 = 73; output 10; input 60.
  a.settle(used(60, 30, 10), now());
  Admission b;
  ASSERT_EQ(b.admit(set, store, nullptr, facts(), {0, 0}, now()), Outcome::Allowed);
  std::string h = headers(b);
  EXPECT_NE(h.find("x-ratelimit-remaining-tokens: 30\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("x-ratelimit-remaining-requests: 1\r\n"), std::string::npos) << h;
}

TEST_F(AdmissionTest, StrictAndHigressGroupsAreAllOrNothing) {
  PolicySet set = load(R"(
rate_limits:
  policies:
  - name: strict
    rules: [{by: per_header, header: x-user, limits: [{tokens: 1000, per: minute}]}]
higress:
  rule_name: h
  global_threshold: {token_per_minute: 50}
  redis: {service_name: redis.static}
)");
  Admission a;
  ASSERT_EQ(a.admit(set, store, nullptr, facts(), {10, 10}, now()), Outcome::Allowed);
  a.settle(used(30, 0, 30), now());  // Higress bucket: 60 > 50 after the fact
  Admission b;
  EXPECT_EQ(b.admit(set, store, nullptr, facts(), {10, 10}, now()), Outcome::Rejected);
  EXPECT_EQ(set.policies[b.decisive()->policyIndex].name, "h");
  // The strict bucket was rolled back: 1000 - 60 = 940 remain, not 920. (Same policy and rule
  // names, so the same bucket key.)
  PolicySet strictOnly = load(R"(
rate_limits:
  policies:
  - name: strict
    rules: [{by: per_header, header: x-user, limits: [{tokens: 1000, per: minute}]}]
)");
  Admission d;
  ASSERT_EQ(d.admit(strictOnly, store, nullptr, facts(), {0, 0}, now()), Outcome::Allowed);
  EXPECT_NE(headers(d).find("x-ratelimit-remaining-tokens: 940\r\n"), std::string::npos)
      << headers(d);
}

TEST_F(AdmissionTest, ShadowRejectionsPassAndStillCount) {
  PolicySet set = load(R"(
rate_limits:
  policies:
  - name: enforced
    rules: [{by: global, limits: [{tokens: 10000, per: minute}]}]
  - name: trial
    shadow: true
    rules: [{by: global, limits: [{tokens: 100, per: minute}]}]
)");
  Admission a;
  ASSERT_EQ(a.admit(set, store, nullptr, facts(), {10, 10}, now()), Outcome::Allowed);
  a.settle(used(100, 0, 50), now());  // the shadow bucket is now over its limit
  Admission b;
  EXPECT_EQ(b.admit(set, store, nullptr, facts(), {10, 10}, now()), Outcome::ShadowRejected);
  ASSERT_NE(b.decisive(), nullptr);
  EXPECT_EQ(set.policies[b.decisive()->policyIndex].name, "trial");
  EXPECT_FALSE(b.rejected());
  std::string h = headers(b);
  EXPECT_EQ(h.find("retry-after"), std::string::npos) << h;  // not rejected: no retry headers
  // Headers describe the enforced bucket only: 10000 - 150 - 20.
  EXPECT_NE(h.find("x-ratelimit-remaining-tokens: 9830\r\n"), std::string::npos) << h;
  b.settle(used(10, 0, 10), now());
  // The shadow bucket was charged the real usage even though it "rejected".
  Admission c;
  PolicySet trialOnly = load(R"(
rate_limits:
  policies:
  - name: trial
    rules: [{by: global, limits: [{tokens: 1000, per: minute}]}]
)");
  ASSERT_EQ(c.admit(trialOnly, store, nullptr, facts(), {0, 0}, now()), Outcome::Allowed);
  EXPECT_NE(headers(c).find("x-ratelimit-remaining-tokens: 830\r\n"), std::string::npos)
      << headers(c);
}

TEST_F(AdmissionTest, PenaltyBlocksPastTheWindow) {
  PolicySet set = load(R"(
rate_limits:
  policies:
  - name: p
    penalty: 2m
    rules: [{by: per_header, header: x-user, limits: [{tokens: 100, per: minute}]}]
)");
  Admission a;
  ASSERT_EQ(a.admit(set, store, nullptr, facts(), {50, 40}, now()), Outcome::Allowed);
  Admission b;
  ASSERT_EQ(b.admit(set, store, nullptr, facts(), {50, 40}, now()), Outcome::Rejected);
  clock.advance(60s);  // a new window, but the penalty runs until 2 min after the rejection
  Admission c;
  EXPECT_EQ(c.admit(set, store, nullptr, facts(), {1, 1}, now()), Outcome::Rejected);
  EXPECT_EQ(c.decisiveState()->verdict, store::Verdict::Blocked);
  EXPECT_EQ(c.retryIn(), 60s);
  clock.advance(61s);
  Admission d;
  EXPECT_EQ(d.admit(set, store, nullptr, facts(), {1, 1}, now()), Outcome::Allowed);
}

TEST_F(AdmissionTest, ConcurrencyIsReleasedAtSettle) {
  PolicySet set = load(R"(
rate_limits:
  policies:
  - name: p
    rules: [{by: global, limits: [{concurrent: 1}]}]
)");
  Admission a;
  ASSERT_EQ(a.admit(set, store, nullptr, facts(), {1, 1}, now()), Outcome::Allowed);
  Admission b;
  EXPECT_EQ(b.admit(set, store, nullptr, facts(), {1, 1}, now()), Outcome::Rejected);
  EXPECT_NE(headers(b).find("retry-after: 1\r\n"), std::string::npos);  // unknown wait: 1 s
  a.settle(used(5, 0, 5), now());
  Admission c;
  EXPECT_EQ(c.admit(set, store, nullptr, facts(), {1, 1}, now()), Outcome::Allowed);
}

TEST_F(AdmissionTest, NoLimitsWhenNothingMatches) {
  PolicySet set = load(R"(
rate_limits:
  policies:
  - name: p
    routes: [other]
    rules: [{by: global, limits: [{tokens: 1, per: minute}]}]
)");
  Admission a;
  EXPECT_EQ(a.admit(set, store, nullptr, facts(), {100, 100}, now()), Outcome::NoLimits);
  EXPECT_EQ(headers(a), "");
  a.settle(used(1, 0, 1), now());
  EXPECT_TRUE(a.settled());
}

TEST_F(AdmissionTest, StoreFullFailsOpen) {
  store::MemoryStoreOptions o;
  o.shards = 1;
  o.maxEntries = 1;
  store::MemoryStore tiny(o);
  PolicySet set = load(kPerUser);
  Admission a;
  ASSERT_EQ(a.admit(set, tiny, nullptr, facts("u1"), {1, 1}, now()), Outcome::Allowed);
  Admission b;
  EXPECT_EQ(b.admit(set, tiny, nullptr, facts("u2"), {1, 1}, now()), Outcome::StoreFailure);
  EXPECT_FALSE(b.rejected());
  b.settle(used(1, 0, 1), now());
}

TEST_F(AdmissionTest, ReusedAcrossRequests) {
  PolicySet set = load(kPerUser);
  Admission a;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(a.admit(set, store, nullptr, facts(), {5, 5}, now()), Outcome::Allowed);
    a.settle(used(5, 0, 5), now());
  }
  EXPECT_EQ(a.admit(set, store, nullptr, facts(), {50, 50}, now()), Outcome::Rejected);
  EXPECT_EQ(a.admit(set, store, nullptr, facts(), {25, 25}, now()), Outcome::Allowed);
  EXPECT_NE(headers(a).find("x-ratelimit-remaining-tokens: 0\r\n"), std::string::npos);
}

}  // namespace
}  // namespace tg::limiter
