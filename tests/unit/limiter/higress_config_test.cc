// Higress ai-token-ratelimit configs: accepted unchanged, converted with Higress's meaning,
// rejected with Higress's errors (or clearer ones), and matched as current Higress does.

#include <gtest/gtest.h>

#include <map>

#include "core/clock.h"
#include "limiter/higress.h"
#include "limiter/rules.h"
#include "limiter_test_support.h"

namespace tg::limiter {
namespace {

using testing::parseHigressConfig;

using namespace std::chrono_literals;
using testing::Req;

std::string errorsOf(const std::vector<config::ConfigError>& errs) {
  std::string s;
  for (const auto& e : errs) {
    s += std::to_string(e.line) + " " + e.path + ": " + e.message + "\n";
  }
  return s;
}

Policy mustParse(const std::string& yaml) {
  std::vector<config::ConfigError> errs;
  auto p = parseHigressConfig(yaml, errs);
  EXPECT_TRUE(p.has_value()) << errorsOf(errs);
  return p ? *p : Policy{};
}

// The first error's message (and path/line through out-params) for a config that must fail.
config::ConfigError mustFail(const std::string& yaml) {
  std::vector<config::ConfigError> errs;
  auto p = parseHigressConfig(yaml, errs);
  EXPECT_FALSE(p.has_value());
  EXPECT_FALSE(errs.empty());
  return errs.empty() ? config::ConfigError{} : errs.front();
}

constexpr const char* kRedis = "redis:\n  service_name: redis.static\n";

std::vector<MatchedBucket> run(const Policy& p, const Req& r) {
  PolicySet set;
  set.policies.push_back(p);
  return match(set, r.facts(), store::TimePoint{});
}

TEST(HigressConfig, ReadmeExampleConvertsWithHigressMeaning) {
  Policy p = mustParse(std::string(R"(
rule_name: default_rule
global_threshold:
  token_per_minute: 1000
rule_items:
- limit_by_per_param: apikey
  limit_keys:
  - key: "regexp:^a.*"
    token_per_second: 10
  - key: "*"
    token_per_minute: 100
- limit_by_per_ip: from-header-x-forwarded-for
  limit_keys:
  - key: 1.1.1.1
    token_per_day: 10
  - key: 1.1.1.0/24
    token_per_hour: 20
  - key: 0.0.0.0/0
    token_per_day: 30
rejected_code: 503
rejected_msg: slow down
)") + kRedis);
  EXPECT_EQ(p.name, "default_rule");
  EXPECT_TRUE(p.higress);
  EXPECT_EQ(p.mode, PolicyMode::HigressCompatible);
  EXPECT_EQ(p.reservation, ReservationMode::None);
  EXPECT_EQ(p.algorithm, store::Algorithm::FixedWindow);
  EXPECT_EQ(p.rejectedCode, 503u);
  EXPECT_EQ(p.rejectedMsg, "slow down");
  ASSERT_TRUE(p.redis);
  EXPECT_EQ(p.redis->serviceName, "redis.static");
  EXPECT_EQ(p.redis->servicePort, 80u);
  EXPECT_EQ(p.redis->timeout, 1000ms);
  ASSERT_EQ(p.rules.size(), 3u);
  EXPECT_EQ(p.rules[0].name, "global_threshold");
  EXPECT_EQ(p.rules[0].limits, (std::vector<Limit>{{Quantity::TotalTokens, 1000, 60s}}));
  EXPECT_EQ(p.rules[1].name, "limit_by_per_param:apikey");
  EXPECT_TRUE(p.rules[1].perValue);
  EXPECT_EQ(p.rules[1].keys[0].pattern.kind, KeyPattern::Kind::Regexp);
  EXPECT_EQ(p.rules[1].keys[0].limits[0].window, 1s);
  EXPECT_EQ(p.rules[1].keys[1].pattern.kind, KeyPattern::Kind::Any);
  EXPECT_EQ(p.rules[2].name, "limit_by_per_ip:from-header-x-forwarded-for");
  EXPECT_EQ(p.rules[2].ipHeader, "x-forwarded-for");
  EXPECT_FALSE(p.rules[2].longestPrefix);
  EXPECT_EQ(p.rules[2].keys[2].limits[0].window, 86400s);
}

TEST(HigressConfig, DefaultsAndRedisBlockKeptAsData) {
  Policy p = mustParse(R"(
rule_name: r
global_threshold: {token_per_hour: 5}
redis:
  service_name: redis.dns
  username: u
  password: pw
  timeout: 0
  database: 3
)");
  EXPECT_EQ(p.rejectedCode, 429u);
  EXPECT_EQ(p.rejectedMsg, "Too many requests");
  EXPECT_EQ(p.redis->servicePort, 6379u);
  EXPECT_EQ(p.redis->username, "u");
  EXPECT_EQ(p.redis->password, "pw");
  EXPECT_EQ(p.redis->timeout, 1000ms);  // 0 is 1000 ms, as Higress
  EXPECT_EQ(p.redis->database, 3u);
}

TEST(HigressConfig, AcceptsJsonAsDeliveredByWasmPlugin) {
  Policy p = mustParse(
      R"({"rule_name":"j","rule_items":[{"limit_by_consumer":"","limit_keys":[{"key":"alice",)"
      R"("token_per_minute":50}]}],"redis":{"service_name":"r.dns","service_port":6380}})");
  EXPECT_EQ(p.rules.size(), 1u);
  EXPECT_EQ(p.rules[0].name, "limit_by_consumer:x-mse-consumer");
  EXPECT_EQ(p.redis->servicePort, 6380u);
}

TEST(HigressConfig, ValidationErrorsUseHigressWording) {
  EXPECT_EQ(mustFail("rule_name: r\nglobal_threshold: {token_per_minute: 1}\n").message,
            "missing redis in config");
  EXPECT_EQ(mustFail("rule_name: r\nglobal_threshold: {token_per_minute: 1}\nredis: {}\n").message,
            "redis service name must not be empty");
  EXPECT_EQ(mustFail(std::string("global_threshold: {token_per_minute: 1}\n") + kRedis).message,
            "missing rule_name in config");
  EXPECT_EQ(mustFail(std::string("rule_name: r\n") + kRedis).message,
            "at least one of 'global_threshold' or 'rule_items' must be set");
  EXPECT_EQ(
      mustFail(std::string("rule_name: r\nglobal_threshold: {token_per_minute: 0}\n") + kRedis)
          .message,
      "failed to parse global_threshold: 'token_per_minute' must be a positive integer, got 0");
  EXPECT_EQ(mustFail(std::string("rule_name: r\nglobal_threshold: {}\n") + kRedis).message,
            "failed to parse global_threshold: one of 'token_per_second', 'token_per_minute', "
            "'token_per_hour', or 'token_per_day' must be set for global_threshold");
  EXPECT_EQ(mustFail(std::string("rule_name: r\nrule_items: []\n") + kRedis).message,
            "config rule_items cannot be empty");
  std::string many = "rule_name: r\nrule_items:\n";
  for (int i = 0; i < 11; ++i) {
    many += "- {limit_by_header: h, limit_keys: [{key: a, token_per_minute: 1}]}\n";
  }
  EXPECT_EQ(mustFail(many + kRedis).message, "rule_items length 11 exceeds maximum 10");
}

TEST(HigressConfig, RuleItemErrors) {
  auto item = [](const std::string& body) {
    return mustFail("rule_name: r\nrule_items:\n- " + body + "\n" + kRedis);
  };
  EXPECT_NE(item("{limit_keys: [{key: a, token_per_minute: 1}]}")
                .message.find("at least one of 'limit_by_header'"),
            std::string::npos);
  EXPECT_NE(
      item("{limit_by_per_ip: from-header-, limit_keys: [{key: 0.0.0.0/0, token_per_minute: 1}]}")
          .message.find("limit_by_per_ip parse error: empty after 'from-header-'"),
      std::string::npos);
  EXPECT_NE(item("{limit_by_per_ip: remote, limit_keys: [{key: 0.0.0.0/0, token_per_minute: 1}]}")
                .message.find("must start with 'from-header-' or be exactly 'from-remote-addr'"),
            std::string::npos);
  EXPECT_NE(
      item("{limit_by_per_ip: from-remote-addr}")
          .message.find(
              "missing limit_keys in config for limit_by_per_ip; add at least one entry, e.g. "
              "key: \"0.0.0.0/0\""),
      std::string::npos);
  EXPECT_NE(item("{limit_by_per_header: h, limit_keys: []}")
                .message.find(
                    "config limit_keys cannot be empty for limit_by_per_header; add at least one "
                    "entry, e.g. key: \"*\""),
            std::string::npos);
  EXPECT_NE(item("{limit_by_header: h, limit_keys: [{token_per_minute: 1}]}")
                .message.find("limit_keys key is required"),
            std::string::npos);
  EXPECT_NE(
      item("{limit_by_per_ip: from-remote-addr, limit_keys: [{key: 1.2.3, token_per_minute: 1}]}")
          .message.find("failed to parse IPNet for key '1.2.3': invalid IP[1.2.3]"),
      std::string::npos);
  EXPECT_NE(item("{limit_by_per_header: h, limit_keys: [{key: 'regexp:(', token_per_minute: 1}]}")
                .message.find("failed to compile regex for key 'regexp:('"),
            std::string::npos);
  EXPECT_NE(item("{limit_by_per_consumer: '', limit_keys: [{key: alice, token_per_minute: 1}]}")
                .message.find("the \"limit_by_per_consumer\" restriction must start with "
                              "'regexp:' or be exactly '*' (got \"alice\"); to match an exact "
                              "name, use the non-per variant \"limit_by_consumer\" instead"),
            std::string::npos);
  EXPECT_NE(item("{limit_by_header: h, limit_keys: [{key: a, token_per_minute: -3}]}")
                .message.find("'token_per_minute' must be a positive integer for key 'a', got -3"),
            std::string::npos);
  EXPECT_NE(
      item("{limit_by_header: h, limit_keys: [{key: a}]}").message.find("must be set for key: a"),
      std::string::npos);
}

TEST(HigressConfig, AmbiguousConfigsRejectedWithPathAndLine) {
  auto e = mustFail(std::string(R"(rule_name: r
rule_items:
- limit_by_header: h
  limit_keys:
  - key: a
    token_per_minute: 1
    token_per_day: 2
)") + kRedis);
  EXPECT_NE(e.message.find("several of 'token_per_*' are set (token_per_minute, token_per_day)"),
            std::string::npos);
  EXPECT_EQ(e.path, "rule_items[0].limit_keys[0]");
  EXPECT_EQ(e.line, 5);

  e = mustFail(std::string(R"(rule_name: r
rule_items:
- limit_by_header: h
  limit_by_per_ip: from-remote-addr
  limit_keys: [{key: a, token_per_minute: 1}]
)") + kRedis);
  EXPECT_NE(e.message.find("several selectors are set in one rule item (limit_by_header, "
                           "limit_by_per_ip)"),
            std::string::npos);
  EXPECT_EQ(e.path, "rule_items[0]");
  EXPECT_EQ(e.line, 3);
}

TEST(HigressConfig, UnknownKeysAndBadRejectedCode) {
  auto e = mustFail(std::string("rule_name: r\nglobal_treshold: {token_per_minute: 1}\n") + kRedis);
  EXPECT_EQ(e.path, "global_treshold");
  EXPECT_EQ(e.message, "unknown key");
  e = mustFail(
      std::string("rule_name: r\nrejected_code: 99\nglobal_threshold: {token_per_minute: 1}\n") +
      kRedis);
  EXPECT_EQ(e.path, "rejected_code");
  // show_limit_quota_header, from old READMEs, is accepted.
  mustParse(std::string("rule_name: r\nshow_limit_quota_header: true\nglobal_threshold: "
                        "{token_per_minute: 1}\n") +
            kRedis);
}

TEST(HigressConfig, EmptyRuleNameAccepted) {
  Policy p =
      mustParse(std::string("rule_name: ''\nglobal_threshold: {token_per_minute: 1}\n") + kRedis);
  EXPECT_EQ(p.name, "");
}

// ---- matching -----------------------------------------------------------------------------

Policy selectorPolicy(const std::string& item) {
  return mustParse(
      std::string("rule_name: r\nglobal_threshold: {token_per_minute: 1000}\nrule_items:\n") +
      item + kRedis);
}

TEST(HigressMatch, GlobalAlwaysFirstAndEveryMatchingItemApplies) {
  Policy p = selectorPolicy(R"(- limit_by_header: x-a
  limit_keys: [{key: "1", token_per_minute: 10}]
- limit_by_per_header: x-b
  limit_keys: [{key: "*", token_per_hour: 20}]
- limit_by_header: x-c
  limit_keys: [{key: "1", token_per_minute: 30}]
)");
  Req r;
  r.headers = {{"x-a", "1"}, {"x-b", "zz"}, {"x-c", "2"}};
  auto b = run(p, r);
  ASSERT_EQ(b.size(), 3u);  // global + x-a + x-b; x-c has no matching key
  EXPECT_EQ(b[0].spec.key, "tg1h:r:global_threshold:total_tokens:60000:g");
  EXPECT_EQ(b[0].spec.limit, 1000u);
  EXPECT_EQ(b[1].spec.key, "tg1h:r:limit_by_header%3Ax-a:total_tokens:60000:v1");
  EXPECT_EQ(b[1].spec.limit, 10u);
  EXPECT_EQ(b[2].spec.key, "tg1h:r:limit_by_per_header%3Ax-b:total_tokens:3600000:vzz");
  for (const auto& x : b) {
    EXPECT_EQ(x.reserveMode, store::ReserveMode::CheckOnly);
    EXPECT_EQ(x.kind, AmountKind::Tokens);
    EXPECT_EQ(x.spec.algorithm, store::Algorithm::FixedWindow);
  }
  // Nothing matches but global: only global.
  EXPECT_EQ(run(p, Req{}).size(), 1u);
}

TEST(HigressMatch, ExactSelectorsHeaderParamCookieConsumer) {
  Policy p = selectorPolicy(R"(- limit_by_header: x-key
  limit_keys: [{key: k1, token_per_minute: 1}]
- limit_by_param: apikey
  limit_keys: [{key: p1, token_per_minute: 2}]
- limit_by_cookie: sid
  limit_keys: [{key: c1, token_per_minute: 3}]
- limit_by_consumer: ''
  limit_keys: [{key: alice, token_per_minute: 4}, {key: bob, token_per_minute: 5}]
)");
  Consumer bob{"bob", {}, {}};
  Req r;
  r.headers = {{"x-key", "k1"}};
  r.query = "x=1&apikey=p1&apikey=p2";
  r.cookies = "junk; a=b;sid=c1";
  r.consumer = &bob;
  auto b = run(p, r);
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(b[1].spec.limit, 1u);
  EXPECT_EQ(b[2].spec.limit, 2u);
  EXPECT_EQ(b[3].spec.limit, 3u);
  EXPECT_EQ(b[4].spec.limit, 5u);
  EXPECT_EQ(b[4].value, "bob");
  // Exact is case-sensitive and literal; the header name is not.
  r.headers = {{"x-key", "K1"}};
  r.query = "apikey=p2&apikey=p1";  // first value only
  r.cookies = "sid";                // no '=': skipped
  r.consumer = nullptr;
  EXPECT_EQ(run(p, r).size(), 1u);
}

TEST(HigressMatch, MalformedQuerySkipsParamRuleAsGo) {
  Policy p = selectorPolicy(R"(- limit_by_param: apikey
  limit_keys: [{key: p1, token_per_minute: 2}]
)");
  Req r;
  r.query = "apikey=p1&bad=%zz";
  EXPECT_EQ(run(p, r).size(), 1u);
  r.query = "apikey=p%31";  // decoded
  EXPECT_EQ(run(p, r).size(), 2u);
}

TEST(HigressMatch, PerSelectorsKeepOneCounterPerValueFirstKeyWins) {
  Policy p = selectorPolicy(R"(- limit_by_per_header: x-user
  limit_keys:
  - {key: "regexp:^vip-", token_per_minute: 100}
  - {key: "*", token_per_minute: 10}
)");
  Req a, b, c, empty;
  a.headers = {{"x-user", "vip-1"}};
  b.headers = {{"x-user", "vip-2"}};
  c.headers = {{"x-user", "joe"}};
  empty.headers = {{"x-user", ""}};
  auto ba = run(p, a), bb = run(p, b), bc = run(p, c), be = run(p, empty);
  EXPECT_EQ(ba[1].spec.limit, 100u);
  EXPECT_EQ(bb[1].spec.limit, 100u);
  EXPECT_NE(ba[1].spec.key, bb[1].spec.key);  // one counter per value
  EXPECT_EQ(bc[1].spec.limit, 10u);
  ASSERT_EQ(be.size(), 2u);             // '*' matches the empty value
  EXPECT_EQ(run(p, Req{}).size(), 1u);  // missing header: item skipped (no fallback)
}

TEST(HigressMatch, RegexpIsUnanchoredSearch) {
  Policy p = selectorPolicy(R"(- limit_by_per_cookie: team
  limit_keys: [{key: "regexp:ops", token_per_minute: 7}]
- limit_by_per_param: k
  limit_keys: [{key: "regexp:^a.*z$", token_per_minute: 8}]
- limit_by_per_consumer: ''
  limit_keys: [{key: "regexp:^svc-", token_per_minute: 9}]
)");
  Consumer svc{"svc-batch", {}, {}};
  Req r;
  r.cookies = "team=devops-eu";
  r.query = "k=abcz";
  r.consumer = &svc;
  auto b = run(p, r);
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b[1].spec.limit, 7u);
  EXPECT_EQ(b[2].spec.limit, 8u);
  EXPECT_EQ(b[3].spec.limit, 9u);
  EXPECT_EQ(b[3].spec.key,
            "tg1h:r:limit_by_per_consumer%3Ax-mse-consumer:total_tokens:60000:vsvc-batch");
}

TEST(HigressMatch, PerIpFirstListedCidrWinsCounterPerIp) {
  Policy p = selectorPolicy(R"(- limit_by_per_ip: from-header-x-real-ip
  limit_keys:
  - {key: 0.0.0.0/0, token_per_minute: 1}
  - {key: 10.0.0.0/8, token_per_minute: 2}
  - {key: "2001:db8::/32", token_per_minute: 3}
)");
  Req r;
  r.headers = {{"x-real-ip", " 10.1.2.3 , 9.9.9.9"}};
  auto b = run(p, r);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[1].spec.limit, 1u);  // first listed, not the longest prefix
  EXPECT_EQ(b[1].value, "10.1.2.3");
  r.headers = {{"x-real-ip", "::ffff:10.1.2.3"}};  // IPv4-mapped: same counter as 10.1.2.3
  EXPECT_EQ(run(p, r)[1].spec.key, b[1].spec.key);
  r.headers = {{"x-real-ip", "2001:db8::1"}};  // 0.0.0.0/0 does not cover IPv6
  EXPECT_EQ(run(p, r)[1].spec.limit, 3u);
  r.headers = {{"x-real-ip", "not-an-ip"}};
  EXPECT_EQ(run(p, r).size(), 1u);
}

TEST(HigressMatch, PerIpFromRemoteAddr) {
  Policy p = selectorPolicy(R"(- limit_by_per_ip: from-remote-addr
  limit_keys: [{key: 192.168.0.1, token_per_minute: 4}]
)");
  Req r;
  r.ip = "192.168.0.1";
  ASSERT_EQ(run(p, r).size(), 2u);
  r.ip = "192.168.0.2";
  EXPECT_EQ(run(p, r).size(), 1u);
}

TEST(HigressMatch, SameRuleNameSharesCountersAcrossConfigs) {
  Policy a =
      mustParse(std::string("rule_name: r\nglobal_threshold: {token_per_minute: 9}\n") + kRedis);
  Policy b =
      mustParse(std::string("rule_name: r\nglobal_threshold: {token_per_minute: 5}\n") + kRedis);
  EXPECT_EQ(run(a, Req{})[0].spec.key, run(b, Req{})[0].spec.key);
}

}  // namespace
}  // namespace tg::limiter
