// limiter::compile without any YAML: plain config structs (config/rate_limits.h,
// config/higress.h), built by hand, become a PolicySet, and semantic errors come back with the
// path and line carried in the structs' Marks.

#include "limiter/compile.h"

#include <gtest/gtest.h>

#include "limiter/higress.h"
#include "limiter/rules.h"

namespace tg::limiter {
namespace {

using namespace std::chrono_literals;

config::LimitConfig limit(const char* quantity, uint64_t amount, std::chrono::milliseconds per) {
  config::LimitConfig l;
  l.quantity = quantity;
  l.amount = amount;
  l.per = per;
  return l;
}

config::RateLimitsConfig handBuilt() {
  config::RateLimitsConfig c;
  c.keySources.push_back({config::KeySourceConfig::Kind::Header, "X-Key"});
  config::ConsumerConfig alice;
  alice.name = "alice";
  alice.keys.push_back({"sk-alice", {"rate_limits.consumers[0].keys[0]", 3}});
  alice.labels.emplace_back("tier", "gold");
  c.consumers.push_back(alice);
  config::PolicyConfig p;
  p.mark = {"rate_limits.policies[0]", 7};
  p.name = "chat";
  p.routes = {"chat"};
  p.algorithm = config::MarkedString{"sliding_window", {"rate_limits.policies[0].algorithm", 9}};
  p.timeZone = config::MarkedString{"+08:00", {"rate_limits.policies[0].time_zone", 10}};
  p.defaultMaxTokens = 1000;
  config::RuleConfig r;
  r.mark = {"rate_limits.policies[0].rules[0]", 12};
  r.by = {"per_header", {"rate_limits.policies[0].rules[0].by", 12}};
  r.header = "x-team";
  r.limits.push_back(limit("total_tokens", 5000, 60s));
  r.limits.push_back(limit("concurrent", 2, 0s));
  config::KeyEntryConfig k;
  k.key = {"regexp:^team-", {"rate_limits.policies[0].rules[0].keys[0]", 14}};
  r.keys.push_back(k);
  p.rules.push_back(r);
  c.policies.push_back(p);
  return c;
}

TEST(Compile, HandBuiltStructsBecomeAPolicySet) {
  LimitsLoadResult res = compile(handBuilt());
  ASSERT_TRUE(res.policies) << (res.errors.empty() ? "" : res.errors[0].message);
  const PolicySet& set = *res.policies;
  ASSERT_EQ(set.keySources.size(), 1u);
  EXPECT_EQ(set.keySources[0].kind, KeySource::Kind::Header);
  EXPECT_EQ(set.keySources[0].name, "x-key");  // header names are matched in lower case
  ASSERT_EQ(set.consumers.size(), 1u);
  EXPECT_EQ(set.consumers[0].keys[0].id, "alice#0");
  EXPECT_FALSE(set.consumers[0].keys[0].hashed);
  EXPECT_EQ(set.consumers[0].keys[0].sha256, sha256Of("sk-alice"));
  ASSERT_EQ(set.policies.size(), 1u);
  const Policy& p = set.policies[0];
  EXPECT_EQ(p.algorithm, store::Algorithm::SlidingWindow);
  EXPECT_EQ(p.defaultMaxTokens, 1000u);
  EXPECT_EQ(p.tierLabel, "tier");  // not set: the limiter's default
  EXPECT_EQ(p.reservation, ReservationMode::PromptPlusMax);
  ASSERT_NE(p.timeZone, nullptr);
  ASSERT_EQ(p.rules.size(), 1u);
  const Rule& r = p.rules[0];
  EXPECT_EQ(r.name, "per_header:x-team");
  EXPECT_EQ(r.selector, SelectorKind::Header);
  EXPECT_TRUE(r.perValue);
  ASSERT_EQ(r.limits.size(), 2u);
  EXPECT_EQ(r.limits[0], (Limit{Quantity::TotalTokens, 5000, 60s}));
  EXPECT_EQ(r.limits[1].quantity, Quantity::Concurrent);
  ASSERT_EQ(r.keys.size(), 1u);
  EXPECT_EQ(r.keys[0].pattern.kind, KeyPattern::Kind::Regexp);
  EXPECT_TRUE(r.keys[0].pattern.matches("team-a"));
  EXPECT_FALSE(r.limits[0].keyPrefix.empty());  // precomputed at compile
}

TEST(Compile, SemanticErrorsCarryTheStructsMarks) {
  config::RateLimitsConfig c = handBuilt();
  c.policies[0].algorithm->value = "leaky";
  c.policies[0].rules[0].keys[0].key.value = "regexp:(";
  c.policies.push_back(c.policies[0]);  // a duplicate name
  c.policies[1].mark = {"rate_limits.policies[1]", 20};
  c.consumers[0].keys[0].value = "sha256:nothex";
  LimitsLoadResult res = compile(c);
  EXPECT_FALSE(res.policies);
  auto find = [&](const std::string& path) -> const config::ConfigError* {
    for (const auto& e : res.errors) {
      if (e.path == path) {
        return &e;
      }
    }
    return nullptr;
  };
  const auto* alg = find("rate_limits.policies[0].algorithm");
  ASSERT_NE(alg, nullptr);
  EXPECT_EQ(alg->line, 9);
  EXPECT_EQ(alg->message, "must be fixed_window, sliding_window or token_bucket, got 'leaky'");
  const auto* re = find("rate_limits.policies[0].rules[0].keys[0]");
  ASSERT_NE(re, nullptr);
  EXPECT_EQ(re->line, 14);
  EXPECT_NE(re->message.find("invalid RE2 regular expression"), std::string::npos);
  const auto* dup = find("rate_limits.policies[1].name");
  ASSERT_NE(dup, nullptr);
  EXPECT_EQ(dup->line, 20);
  EXPECT_EQ(dup->message, "duplicate policy name 'chat'");
  const auto* key = find("rate_limits.consumers[0].keys[0]");
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->line, 3);
}

// `lease: exact` marks the policy's buckets so a leased Redis store reserves them per request.
TEST(Compile, PolicyLeaseMode) {
  config::RateLimitsConfig c = handBuilt();
  LimitsLoadResult def = compile(c);
  ASSERT_TRUE(def.policies);
  EXPECT_FALSE(def.policies->policies[0].exactLease);
  c.policies[0].lease = config::MarkedString{"exact", {"rate_limits.policies[0].lease", 11}};
  LimitsLoadResult exact = compile(c);
  ASSERT_TRUE(exact.policies);
  EXPECT_TRUE(exact.policies->policies[0].exactLease);
  c.policies[0].lease->value = "sometimes";
  LimitsLoadResult bad = compile(c);
  EXPECT_FALSE(bad.policies);
  ASSERT_FALSE(bad.errors.empty());
  EXPECT_EQ(bad.errors[0].path, "rate_limits.policies[0].lease");
  EXPECT_EQ(bad.errors[0].message, "must be leased or exact, got 'sometimes'");
}

TEST(Compile, HandBuiltHigressConfigBecomesACompatiblePolicy) {
  config::HigressConfig h;
  h.mark = {"higress", 1};
  h.ruleName = "ai";
  h.redis.serviceName = "redis.static";
  h.globalThreshold = config::HigressTokenLimit{1000, 60s};
  config::HigressRuleItem item;
  item.mark = {"higress.rule_items[0]", 5};
  item.selector = config::HigressSelector::LimitByPerIp;
  item.value = "from-header-x-real-ip";
  item.valueMark = {"higress.rule_items[0].limit_by_per_ip", 5};
  item.limitKeys.push_back({"10.0.0.0/8",
                            {"higress.rule_items[0].limit_keys[0].key", 7},
                            config::HigressTokenLimit{50, 1s}});
  h.ruleItems.push_back(item);
  LimitsLoadResult res = compile(config::RateLimitsConfig{}, {h});
  ASSERT_TRUE(res.policies) << (res.errors.empty() ? "" : res.errors[0].message);
  ASSERT_EQ(res.policies->policies.size(), 1u);
  const Policy& p = res.policies->policies[0];
  EXPECT_TRUE(p.higress);
  EXPECT_EQ(p.mode, PolicyMode::HigressCompatible);
  EXPECT_EQ(p.rejectedMsg, kHigressDefaultRejectedMsg);
  ASSERT_TRUE(p.redis);
  EXPECT_EQ(p.redis->servicePort, 80u);  // ".static" service without a port
  ASSERT_EQ(p.rules.size(), 2u);
  EXPECT_EQ(p.rules[1].ipHeader, "x-real-ip");
  EXPECT_EQ(p.rules[1].keys[0].pattern.kind, KeyPattern::Kind::Cidr);

  h.ruleItems[0].limitKeys[0].key = "not-an-ip";
  std::vector<config::ConfigError> errors;
  EXPECT_FALSE(compileHigress(h, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "higress.rule_items[0].limit_keys[0].key");
  EXPECT_EQ(errors[0].line, 7);
  EXPECT_NE(errors[0].message.find("failed to parse IPNet for key 'not-an-ip'"), std::string::npos);
}

}  // namespace
}  // namespace tg::limiter
