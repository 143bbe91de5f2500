// config/read_rate_limits.cc and read_higress.cc: the `rate_limits:` and `higress:` sections
// read into plain structs (config/rate_limits.h, config/higress.h) with the Marks the limiter
// reports with; shape errors (types, keywords of limits, one token_per_*) found while reading;
// a file holding only some sections read as such (Document::sections).

#include <gtest/gtest.h>

#include <map>

#include "config/loader.h"

namespace tg::config {
namespace {

using namespace std::chrono_literals;

TEST(RateLimitsReader, ReadsPlainStructsWithMarks) {
  ReadResult r = readDocument(R"(rate_limits:
  key_sources: [bearer, {header: X-Key}]
  consumers:
  - name: alice
    keys: [sk-a]
    labels: {tier: gold}
  policies:
  - name: p
    routes: [chat]
    algorithm: token_bucket
    rules:
    - by: per_consumer
      limits: [{tokens: 100, per: minute}, {concurrent: 2}]
      keys: ["regexp:^a"]
)",
                              nullptr);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].path << ": " << r.errors[0].message;
  EXPECT_EQ(r.document.sections, std::vector<std::string>{"rate_limits"});
  EXPECT_FALSE(r.document.has("listeners"));
  const RateLimitsConfig& c = r.document.rateLimits;
  ASSERT_EQ(c.keySources.size(), 2u);
  EXPECT_EQ(c.keySources[1].kind, KeySourceConfig::Kind::Header);
  EXPECT_EQ(c.keySources[1].name, "X-Key");  // as written; the limiter lower-cases
  ASSERT_EQ(c.consumers.size(), 1u);
  EXPECT_EQ(c.consumers[0].keys[0].value, "sk-a");
  EXPECT_EQ(c.consumers[0].keys[0].mark.path, "rate_limits.consumers[0].keys[0]");
  EXPECT_EQ(c.consumers[0].keys[0].mark.line, 5);
  ASSERT_EQ(c.policies.size(), 1u);
  const PolicyConfig& p = c.policies[0];
  EXPECT_EQ(p.mark.line, 8);
  EXPECT_EQ(p.routesMark.line, 9);
  ASSERT_TRUE(p.algorithm);
  EXPECT_EQ(p.algorithm->value, "token_bucket");  // keywords are the limiter's to check
  EXPECT_EQ(p.algorithm->mark.path, "rate_limits.policies[0].algorithm");
  EXPECT_FALSE(p.mode);  // not written: the limiter's default
  ASSERT_EQ(p.rules.size(), 1u);
  const RuleConfig& rule = p.rules[0];
  EXPECT_EQ(rule.by.value, "per_consumer");
  ASSERT_EQ(rule.limits.size(), 2u);
  EXPECT_EQ(rule.limits[0].quantity, "total_tokens");  // `tokens` is total_tokens
  EXPECT_EQ(rule.limits[0].per, 60s);
  EXPECT_EQ(rule.limits[1].quantity, "concurrent");
  ASSERT_EQ(rule.keys.size(), 1u);
  EXPECT_EQ(rule.keys[0].key.mark.line, 14);
}

TEST(RateLimitsReader, ShapeErrorsHavePathAndLine) {
  ReadResult r = readDocument(R"(rate_limits:
  policies:
  - name: p
    rules:
    - by: global
      limits: [{tokens: 1, requests: 2, per: minute}, {tokens: 0, per: minute}]
      penalty: soon
    colour: blue
)",
                              nullptr);
  std::map<std::string, ConfigError> byPath;
  for (const auto& e : r.errors) {
    byPath.emplace(e.path, e);
  }
  ASSERT_TRUE(byPath.count("rate_limits.policies[0].rules[0].limits[0]"));
  EXPECT_NE(byPath["rate_limits.policies[0].rules[0].limits[0]"].message.find("exactly one of"),
            std::string::npos);
  EXPECT_EQ(byPath["rate_limits.policies[0].rules[0].limits[1].tokens"].line, 6);
  EXPECT_EQ(byPath["rate_limits.policies[0].rules[0].penalty"].message,
            "must be a duration such as 500ms, 10s, 5m, 1h, 1d; got 'soon'");
  EXPECT_EQ(byPath["rate_limits.policies[0].colour"].message, "unknown key");
  EXPECT_EQ(byPath["rate_limits.policies[0].colour"].line, 8);
}

TEST(HigressReader, ReadsOneConfigOrAList) {
  ReadResult r = readDocument(R"(higress:
- rule_name: a
  redis: {service_name: redis.static}
  global_threshold: {token_per_minute: 100}
- rule_name: b
  redis: {service_name: redis, service_port: 6380}
  rule_items:
  - limit_by_per_ip: from-remote-addr
    limit_keys: [{key: 0.0.0.0/0, token_per_hour: 5}]
)",
                              nullptr);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].path << ": " << r.errors[0].message;
  ASSERT_EQ(r.document.higress.size(), 2u);
  const HigressConfig& a = r.document.higress[0];
  EXPECT_EQ(a.ruleName, "a");
  ASSERT_TRUE(a.globalThreshold);
  EXPECT_EQ(a.globalThreshold->tokens, 100u);
  EXPECT_EQ(a.globalThreshold->window, 60s);
  EXPECT_FALSE(a.redis.servicePort);  // the limiter picks 80 for ".static"
  const HigressConfig& b = r.document.higress[1];
  ASSERT_EQ(b.ruleItems.size(), 1u);
  EXPECT_EQ(b.ruleItems[0].selector, HigressSelector::LimitByPerIp);
  EXPECT_EQ(b.ruleItems[0].limitKeys[0].key, "0.0.0.0/0");
  EXPECT_EQ(b.ruleItems[0].limitKeys[0].keyMark.path, "higress[1].rule_items[0].limit_keys[0].key");
  EXPECT_EQ(b.ruleItems[0].limitKeys[0].keyMark.line, 9);
  EXPECT_EQ(b.ruleItems[0].limitKeys[0].limit.window, 3600s);
}

TEST(HigressReader, ShapeErrorsUseHigressWording) {
  std::vector<ConfigError> errors;
  auto c = readHigressDocument(
      "rule_name: x\nglobal_threshold: {token_per_minute: 1, "
      "token_per_hour: 2}\n",
      errors);
  EXPECT_FALSE(c);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].message.find("several of 'token_per_*' are set"), std::string::npos);
  EXPECT_EQ(errors[0].line, 2);
  EXPECT_EQ(errors[1].path, "redis");
  EXPECT_EQ(errors[1].message, "missing redis in config");
}

}  // namespace
}  // namespace tg::config
