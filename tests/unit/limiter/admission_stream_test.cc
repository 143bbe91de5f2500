// limiter::Admission stream enforcement (enforce: stream): top-ups of the followed buckets as a
// stream is relayed, exactly to the limit, no penalty for running out mid-stream, and settle
// charging the real usage whatever was topped up. Real MemoryStore, ManualClock.

#include <gtest/gtest.h>

#include "core/clock.h"
#include "limiter/admission.h"
#include "limiter_test_support.h"
#include "store/memory_store.h"

namespace tg::limiter {
namespace {

using namespace std::chrono_literals;
constexpr auto load = testing::loadPolicies;

core::TokenUsage used(uint64_t input, uint64_t output) {
  core::TokenUsage u;
  u.inputTokens = input;
  u.outputTokens = output;
  return u;
}

class AdmissionStreamTest : public ::testing::Test {
 protected:
  AdmissionStreamTest() { clock.set(std::chrono::hours(24 * 20000) + 5s); }
  RequestFacts facts() {
    RequestFacts f;
    f.route = "chat";
    f.model = "gpt-4o";
    f.clientIp = "10.0.0.1";
    return f;
  }
  store::TimePoint now() const { return clock.wallNow(); }
  // Runs a top-up inline; nullopt when none was needed.
  std::optional<Admission::TopUp> topUp(Admission& a, uint64_t prompt, uint64_t output,
                                        uint64_t ahead) {
    auto call = a.topUp(used(prompt, output), ahead);
    if (!call) {
      return std::nullopt;
    }
    a.followStore()->reserveInto(call->buckets, call->amounts, call->mode, now(), *call->out);
    return a.toppedUp();
  }
  // Remaining tokens as the headers of a new request that reserves nothing say.
  std::string remaining(const PolicySet& set) {
    Admission probe;
    probe.admit(set, store, nullptr, facts(), {0, std::nullopt}, now());
    std::string h;
    probe.appendHeaders(h);
    probe.settle(used(0, 0), now());
    auto at = h.find("x-ratelimit-remaining-tokens: ");
    return at == std::string::npos ? "?" : h.substr(at + 30, h.find('\r', at) - at - 30);
  }

  core::ManualClock clock;
  store::MemoryStore store;
};

const char* kStream = R"(
rate_limits:
  policies:
  - name: p
    reservation: prompt
    enforce: stream
    penalty: 30s
    rules:
    - by: global
      limits: [{tokens: 100, per: minute}]
)";

TEST_F(AdmissionStreamTest, TopsUpToExactlyTheLimitThenRefuses) {
  PolicySet set = load(kStream);
  Admission a;
  ASSERT_EQ(a.admit(set, store, nullptr, facts(), {10, std::nullopt}, now()), Outcome::Allowed);
  ASSERT_TRUE(a.followsStream());
  EXPECT_EQ(topUp(a, 10, 0, 16), std::nullopt);  // the prompt is covered by the admission
  uint64_t out = 0;
  // Blocks of 3 tokens with 16 of headroom until the headroom no longer fits, then exactly.
  for (;;) {
    auto r = topUp(a, 10, out + 3, 16);
    if (r == Admission::TopUp::Refused) {
      r = topUp(a, 10, out + 3, 0);
    }
    if (r == Admission::TopUp::Refused) {
      break;
    }
    out += 3;
    ASSERT_LE(out, 90u);
  }
  EXPECT_EQ(out, 90u);  // 10 prompt + 90 output = the limit; 93 would not fit
  EXPECT_EQ(remaining(set), "0");
  a.settle(used(10, out), now());
  EXPECT_EQ(remaining(set), "0");
}

TEST_F(AdmissionStreamTest, SettleChargesTheRealUsageAndRunningOutIsNoPenalty) {
  PolicySet set = load(kStream);
  Admission a;
  ASSERT_EQ(a.admit(set, store, nullptr, facts(), {10, std::nullopt}, now()), Outcome::Allowed);
  EXPECT_EQ(topUp(a, 10, 1, 79), Admission::TopUp::Covered);  // covers 10 + 80
  EXPECT_EQ(topUp(a, 10, 81, 19), Admission::TopUp::Refused);  // 110 > 100
  EXPECT_GT(a.topUps(), 1u);
  a.settle(used(10, 30), now());  // the stream ended at 30: 60 left, topped up or not
  EXPECT_EQ(remaining(set), "60");
  Admission b;  // the refused top-up did not block the bucket for the penalty
  EXPECT_EQ(b.admit(set, store, nullptr, facts(), {10, std::nullopt}, now()), Outcome::Allowed);
  b.settle(used(10, 0), now());
}

TEST_F(AdmissionStreamTest, OnlyStreamPoliciesAreFollowed) {
  PolicySet set = load(R"(
rate_limits:
  policies:
  - name: p
    reservation: prompt
    rules:
    - by: global
      limits: [{tokens: 100, per: minute}]
)");
  Admission a;
  ASSERT_EQ(a.admit(set, store, nullptr, facts(), {10, std::nullopt}, now()), Outcome::Allowed);
  EXPECT_FALSE(a.followsStream());
  EXPECT_EQ(a.topUp(used(10, 500), 0), std::nullopt);
  a.settle(used(10, 500), now());
}

TEST_F(AdmissionStreamTest, StreamNeedsStrictMode) {
  auto res = testing::loadLimitsString(R"(
rate_limits:
  policies:
  - name: p
    mode: higress_compatible
    enforce: stream
    rules:
    - by: global
      limits: [{tokens: 100, per: minute}]
)");
  ASSERT_FALSE(res.policies.has_value());
  ASSERT_FALSE(res.errors.empty());
  EXPECT_NE(res.errors[0].message.find("enforce: stream needs mode: strict"), std::string::npos);
}

}  // namespace
}  // namespace tg::limiter
