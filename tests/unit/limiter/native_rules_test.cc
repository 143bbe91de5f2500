// The native limits config (read by config/, compiled by limiter/compile.h) and the matcher
// (limiter/rules.h): every selector, windows, quantities, tiers, schedules across a ManualClock
// boundary, and the penalty / shadow / fallback / cap / mode flags carried into the buckets.

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "core/clock.h"
#include "limiter/compile.h"
#include "limiter/rules.h"
#include "limiter_test_support.h"

namespace tg::limiter {
namespace {

using testing::loadLimitsString;

using namespace std::chrono_literals;
using testing::Req;
constexpr auto load = testing::loadPolicies;

std::vector<config::ConfigError> errorsOf(const std::string& yaml) {
  auto res = loadLimitsString(yaml);
  EXPECT_FALSE(res.policies.has_value());
  return res.errors;
}

// 2024-01-01 was a Monday.
store::TimePoint at(int dayOffset, int hour, int minute) {
  core::ManualClock c;
  c.set(std::chrono::sys_days(std::chrono::year(2024) / 1 / 1).time_since_epoch() +
        std::chrono::days(dayOffset) + std::chrono::hours(hour) + std::chrono::minutes(minute));
  return c.wallNow();
}

TEST(NativeConfig, SeveralWindowsAndQuantitiesPerRule) {
  auto set = load(R"(
rate_limits:
  policies:
  - name: p
    algorithm: sliding_window
    weights: {input: 1, cached_input: 0.1, output: 4}
    rules:
    - name: per-consumer
      by: per_consumer
      limits:
      - {tokens: 100000, per: minute}
      - {tokens: 1000000, per: day}
      - {input_tokens: 50000, per: minute}
      - {output_tokens: 20000, per: hour}
      - {weighted_tokens: 300000, per: 90s}
      - {requests: 60, per: minute}
      - {concurrent: 4}
)");
  Consumer alice{"alice", {}, {}};
  Req r;
  r.consumer = &alice;
  auto b = match(set, r.facts(), at(0, 12, 0));
  ASSERT_EQ(b.size(), 7u);
  EXPECT_EQ(b[0].spec.key, "tg1:p:per-consumer:total_tokens:60000:valice");
  EXPECT_EQ(b[1].spec.key, "tg1:p:per-consumer:total_tokens:86400000:valice");
  EXPECT_EQ(b[2].quantity, Quantity::InputTokens);
  EXPECT_EQ(b[4].spec.window, 90s);
  EXPECT_EQ(b[4].quantity, Quantity::WeightedTokens);
  EXPECT_EQ(b[5].kind, AmountKind::Requests);
  EXPECT_EQ(b[5].spec.algorithm, store::Algorithm::SlidingWindow);
  EXPECT_EQ(b[6].kind, AmountKind::Concurrency);
  EXPECT_EQ(b[6].spec.algorithm, store::Algorithm::Concurrency);
  EXPECT_EQ(b[6].spec.window, 3600s);  // the lease
  EXPECT_EQ(b[6].spec.limit, 4u);
  EXPECT_DOUBLE_EQ(set.policies[0].weights.output, 4.0);
  for (const auto& x : b) {
    EXPECT_EQ(x.reserveMode, store::ReserveMode::Reserve);
    EXPECT_FALSE(x.shadow);
    EXPECT_EQ(x.spec.penalty, 0ms);
  }
  // No consumer: per_consumer has no value and no fallback -> skipped.
  EXPECT_TRUE(match(set, Req{}.facts(), at(0, 12, 0)).empty());
}

TEST(NativeConfig, EverySelector) {
  auto set = load(R"(
rate_limits:
  policies:
  - name: p
    rules:
    - {by: global, limits: [{tokens: 1, per: minute}]}
    - {by: consumer, keys: [alice], limits: [{tokens: 2, per: minute}]}
    - {by: per_api_key, limits: [{tokens: 3, per: minute}]}
    - {by: header, header: X-Team, keys: [red], limits: [{tokens: 4, per: minute}]}
    - {by: per_param, param: user, limits: [{tokens: 5, per: minute}]}
    - {by: per_cookie, cookie: sid, limits: [{tokens: 6, per: minute}]}
    - {by: per_ip, limits: [{tokens: 7, per: minute}]}
    - {by: model, keys: ["regexp:^gpt-4"], limits: [{tokens: 8, per: minute}]}
    - {by: per_model, limits: [{tokens: 9, per: minute}]}
    - {by: per_header, header: x-user, limits: [{tokens: 10, per: minute}]}
)");
  Consumer alice{"alice", {}, {}};
  Req r;
  r.consumer = &alice;
  r.apiKeyId = "alice#0";
  r.headers = {{"x-team", "red"}, {"x-user", std::string(100, 'u')}};
  r.query = "user=u1";
  r.cookies = "sid=s1";
  r.ip = "::ffff:10.0.0.1";
  r.model = "gpt-4o";
  auto b = match(set, r.facts(), at(0, 0, 0));
  ASSERT_EQ(b.size(), 10u);
  for (size_t i = 0; i < b.size(); ++i) {
    EXPECT_EQ(b[i].spec.limit, i + 1) << i;
    EXPECT_EQ(b[i].ruleIndex, i);
  }
  EXPECT_EQ(b[0].spec.key, "tg1:p:global:total_tokens:60000:g");
  EXPECT_EQ(b[1].spec.key, "tg1:p:consumer:total_tokens:60000:valice");
  EXPECT_EQ(b[2].value, "alice%230");
  EXPECT_EQ(b[3].spec.key, "tg1:p:header%3AX-Team:total_tokens:60000:vred");
  EXPECT_EQ(b[6].value, "10.0.0.1");                                      // normalised
  EXPECT_EQ(b[7].spec.key, "tg1:p:model:total_tokens:60000:kR%5Egpt-4");  // shared per entry
  EXPECT_EQ(b[8].spec.key, "tg1:p:per_model:total_tokens:60000:vgpt-4o");
  EXPECT_EQ(b[9].value.rfind("#", 0), 0u);  // long untrusted value hashed
  EXPECT_LT(b[9].spec.key.size(), 100u);
}

TEST(NativeConfig, LongestPrefixWinsForIpRules) {
  auto set = load(R"(
rate_limits:
  policies:
  - name: p
    rules:
    - by: per_ip
      keys:
      - {key: 0.0.0.0/0, limits: [{tokens: 1, per: minute}]}
      - {key: 10.0.0.0/8, limits: [{tokens: 2, per: minute}]}
      - {key: 10.1.0.0/16, limits: [{tokens: 3, per: minute}]}
      - {key: 10.1.2.3, limits: [{tokens: 4, per: minute}]}
      - {key: "::/0", limits: [{tokens: 5, per: minute}]}
    - by: ip
      keys: ["10.0.0.0/8"]
      limits: [{requests: 9, per: second}]
)");
  auto limitFor = [&](const char* ip) {
    Req r;
    r.ip = ip;
    auto b = match(set, r.facts(), at(0, 0, 0));
    return b.empty() ? 0 : b[0].spec.limit;
  };
  EXPECT_EQ(limitFor("10.1.2.3"), 4u);
  EXPECT_EQ(limitFor("10.1.9.9"), 3u);
  EXPECT_EQ(limitFor("10.9.9.9"), 2u);
  EXPECT_EQ(limitFor("::ffff:10.9.9.9"), 2u);
  EXPECT_EQ(limitFor("8.8.8.8"), 1u);
  EXPECT_EQ(limitFor("2001:db8::1"), 5u);
  // A non-per CIDR entry is ONE shared counter for the whole range.
  Req a, b;
  a.ip = "10.1.1.1";
  b.ip = "10.2.2.2";
  auto ba = match(set, a.facts(), at(0, 0, 0));
  auto bb = match(set, b.facts(), at(0, 0, 0));
  ASSERT_EQ(ba.size(), 2u);
  EXPECT_EQ(ba[1].spec.key, bb[1].spec.key);
  EXPECT_EQ(ba[1].spec.key, "tg1:p:ip:requests:1000:kC10.0.0.0/8");
  EXPECT_NE(ba[0].spec.key, bb[0].spec.key);
}

TEST(NativeConfig, FirstMatchingKeyWinsForOtherSelectors) {
  auto set = load(R"(
rate_limits:
  policies:
  - name: p
    rules:
    - by: per_header
      header: x-user
      limits: [{tokens: 1, per: minute}]
      keys:
      - {key: "regexp:^vip", limits: [{tokens: 100, per: minute}]}
      - {key: vip-1, limits: [{tokens: 200, per: minute}]}
      - "*"
)");
  Req r;
  r.headers = {{"x-user", "vip-1"}};
  EXPECT_EQ(match(set, r.facts(), at(0, 0, 0))[0].spec.limit, 100u);
  r.headers = {{"x-user", "joe"}};
  EXPECT_EQ(match(set, r.facts(), at(0, 0, 0))[0].spec.limit, 1u);  // inherits rule limits
}

TEST(NativeConfig, TiersPickLimitsByConsumerLabel) {
  auto set = load(R"(
rate_limits:
  policies:
  - name: p
    tier_label: plan
    rules:
    - by: per_consumer
      limits: [{tokens: 1000, per: minute}]
      tiers:
        gold: [{tokens: 100000, per: minute}, {requests: 600, per: minute}]
        free: [{tokens: 10, per: minute}]
)");
  Consumer gold{"g", {}, {{"plan", "gold"}}};
  Consumer free{"f", {}, {{"plan", "free"}}};
  Consumer none{"n", {}, {{"tier", "gold"}}};  // wrong label name
  Req r;
  r.consumer = &gold;
  auto b = match(set, r.facts(), at(0, 0, 0));
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].spec.limit, 100000u);
  EXPECT_EQ(b[1].kind, AmountKind::Requests);
  r.consumer = &free;
  EXPECT_EQ(match(set, r.facts(), at(0, 0, 0))[0].spec.limit, 10u);
  r.consumer = &none;
  EXPECT_EQ(match(set, r.facts(), at(0, 0, 0))[0].spec.limit, 1000u);
  // The tier does not change the bucket identity (same key for the same consumer name).
  Consumer goldAgain{"f", {}, {{"plan", "gold"}}};
  r.consumer = &goldAgain;
  auto upgraded = match(set, r.facts(), at(0, 0, 0));
  r.consumer = &free;
  EXPECT_EQ(upgraded[0].spec.key, match(set, r.facts(), at(0, 0, 0))[0].spec.key);
}

TEST(NativeConfig, SchedulesSwitchAtTheBoundaryInTheConfiguredZone) {
  auto set = load(R"(
rate_limits:
  policies:
  - name: p
    time_zone: "+08:00"
    rules:
    - by: global
      limits: [{tokens: 1000, per: minute}]
      tiers:
        gold: [{tokens: 5000, per: minute}]
      schedules:
      - days: mon-fri
        from: "09:00"
        to: "18:00"
        limits: [{tokens: 100, per: minute}]
        tiers:
          gold: [{tokens: 500, per: minute}]
      - days: [sat]
        from: "22:00"
        to: "06:00"
        limits: [{tokens: 7, per: minute}]
)");
  Consumer gold{"g", {}, {{"tier", "gold"}}};
  core::ManualClock clock;
  // Monday 2024-01-01 08:59 at +08:00 = 00:59 UTC.
  clock.set((std::chrono::sys_days(std::chrono::year(2024) / 1 / 1) + 59min).time_since_epoch());
  auto limitNow = [&](const Consumer* c) {
    Req r;
    r.consumer = c;
    return match(set, r.facts(), clock.wallNow())[0].spec.limit;
  };
  EXPECT_EQ(limitNow(nullptr), 1000u);
  EXPECT_EQ(limitNow(&gold), 5000u);
  std::string offPeakKey = match(set, Req{}.facts(), clock.wallNow())[0].spec.key;
  clock.advance(59s);
  EXPECT_EQ(limitNow(nullptr), 1000u);  // 08:59:59
  clock.advance(1s);                    // 09:00:00 local
  EXPECT_EQ(limitNow(nullptr), 100u);
  EXPECT_EQ(limitNow(&gold), 500u);
  EXPECT_EQ(match(set, Req{}.facts(), clock.wallNow())[0].spec.key, offPeakKey);  // same bucket
  clock.advance(9h - 1s);                                                         // 17:59:59
  EXPECT_EQ(limitNow(nullptr), 100u);
  clock.advance(1s);  // 18:00
  EXPECT_EQ(limitNow(nullptr), 1000u);
  // Saturday 22:00 local -> Sunday 05:59 stays in Saturday's wrapping range.
  EXPECT_EQ(match(set, Req{}.facts(), at(5, 14, 0))[0].spec.limit, 7u);   // Sat 22:00 local
  EXPECT_EQ(match(set, Req{}.facts(), at(5, 21, 59))[0].spec.limit, 7u);  // Sun 05:59 local
  EXPECT_EQ(match(set, Req{}.facts(), at(5, 22, 0))[0].spec.limit, 1000u);
  EXPECT_EQ(match(set, Req{}.facts(), at(5, 13, 59))[0].spec.limit, 1000u);
  // Saturday 09:00 local is not a weekday peak.
  EXPECT_EQ(match(set, Req{}.facts(), at(5, 1, 0))[0].spec.limit, 1000u);
}

TEST(NativeConfig, FlagsCarriedIntoBuckets) {
  auto set = load(R"(
rate_limits:
  policies:
  - name: p
    penalty: 30s
    shadow: true
    rules:
    - name: users
      by: per_header
      header: x-user
      limits: [{tokens: 10, per: minute}]
      fallback: [{tokens: 3, per: minute}]
      max_keys: 2
      penalty: 2m
    - name: g
      by: global
      shadow: false
      limits: [{requests: 5, per: second}]
  - name: compat
    mode: higress_compatible
    routes: [chat]
    rules:
    - {by: global, limits: [{tokens: 9, per: hour}]}
  - name: other-route
    routes: [embeddings]
    rules:
    - {by: global, limits: [{tokens: 9, per: hour}]}
)");
  EXPECT_EQ(set.policies[1].reservation, ReservationMode::None);
  DistinctKeyCap cap;
  auto now = at(0, 0, 0);
  auto run = [&](std::optional<std::string> user) {
    Req r;
    if (user) r.headers = {{"x-user", *user}};
    return match(set, r.facts(), now, &cap);
  };
  auto b = run("u1");
  ASSERT_EQ(b.size(), 3u);  // users, g, compat (other-route skipped)
  EXPECT_EQ(b[0].spec.penalty, 120s);
  EXPECT_TRUE(b[0].shadow);
  EXPECT_EQ(b[1].spec.penalty, 30s);
  EXPECT_FALSE(b[1].shadow);
  EXPECT_EQ(b[2].reserveMode, store::ReserveMode::CheckOnly);
  EXPECT_EQ(b[2].policyIndex, 1u);
  // Fallback: missing value -> one shared bucket with the fallback limits.
  auto f = run(std::nullopt);
  EXPECT_TRUE(f[0].fallback);
  EXPECT_EQ(f[0].spec.limit, 3u);
  EXPECT_EQ(f[0].spec.key, "tg1:p:users:total_tokens:60000:f");
  // Cap: u1, u2 get their own buckets; u3 goes to the overflow bucket; u1 still has its own.
  EXPECT_FALSE(run("u2")[0].overflow);
  auto o = run("u3");
  EXPECT_TRUE(o[0].overflow);
  EXPECT_EQ(o[0].spec.key, "tg1:p:users:total_tokens:60000:o");
  EXPECT_EQ(o[0].spec.limit, 10u);
  EXPECT_EQ(run("u1")[0].spec.key, b[0].spec.key);
  // Next period (the rule's longest window): the set starts over.
  now += 60s;
  EXPECT_FALSE(run("u3")[0].overflow);
  // Without a cap object nothing overflows.
  Req r;
  r.headers = {{"x-user", "u9"}};
  EXPECT_FALSE(match(set, r.facts(), now)[0].overflow);
}

TEST(NativeConfig, RouteFilter) {
  auto set = load(R"(
rate_limits:
  policies:
  - name: p
    routes: [a, b]
    rules: [{by: global, limits: [{tokens: 1, per: minute}]}]
)");
  Req r;
  r.route = "b";
  EXPECT_EQ(match(set, r.facts(), at(0, 0, 0)).size(), 1u);
  r.route = "c";
  EXPECT_TRUE(match(set, r.facts(), at(0, 0, 0)).empty());
}

TEST(NativeConfig, NativeAndHigressTogether) {
  auto set = load(R"(
rate_limits:
  policies:
  - name: p
    rules: [{by: global, limits: [{tokens: 1, per: minute}]}]
higress:
- rule_name: h
  global_threshold: {token_per_minute: 2}
  redis: {service_name: redis.dns}
)");
  ASSERT_EQ(set.policies.size(), 2u);
  auto b = match(set, Req{}.facts(), at(0, 0, 0));
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].reserveMode, store::ReserveMode::Reserve);
  EXPECT_EQ(b[1].reserveMode, store::ReserveMode::CheckOnly);
  EXPECT_EQ(b[1].spec.key, "tg1h:h:global_threshold:total_tokens:60000:g");
}

TEST(NativeConfig, Errors) {
  auto e = errorsOf(R"(
rate_limits:
  policies:
  - name: p
    time_zone: Asia/Shangai
    algorithm: leaky
    rules:
    - by: per_header
      limits: [{tokens: 1}]
    - by: consumer
      limits: [{tokens: 1, input_tokens: 2, per: minute}]
    - by: per_model
      limits: [{concurrent: 2, per: minute}, {tokens: 0, per: minute}]
    - by: global
      limits: [{tokens: 1, per: minute}, {tokens: 2, per: minute}]
      schedules: [{from: "25:00", to: "9:00", limits: [{tokens: 1, per: day}]}]
  - name: p
    mode: higress_compatible
    reservation: prompt
    rules: [{by: bogus}]
)");
  std::map<std::string, std::string> byPath;
  for (const auto& x : e) {
    byPath[x.path] += x.message + " | ";
  }
  auto has = [&](const std::string& path, const std::string& text) {
    auto it = byPath.find(path);
    EXPECT_TRUE(it != byPath.end() && it->second.find(text) != std::string::npos)
        << path << " / " << text << "\n";
  };
  has("rate_limits.policies[0].time_zone", "unknown time zone 'Asia/Shangai'");
  has("rate_limits.policies[0].algorithm", "must be fixed_window, sliding_window or token_bucket");
  has("rate_limits.policies[0].rules[0].header", "needs header");
  has("rate_limits.policies[0].rules[0].limits[0].per", "missing");
  has("rate_limits.policies[0].rules[1].limits[0]", "exactly one of tokens");
  has("rate_limits.policies[0].rules[1].keys", "counts only listed values");
  has("rate_limits.policies[0].rules[2].limits[0].per", "a concurrent limit has no window");
  has("rate_limits.policies[0].rules[2].limits[1].tokens", "must be an integer from 1");
  has("rate_limits.policies[0].rules[3].limits", "two limits count total_tokens over the same window");
  has("rate_limits.policies[0].rules[3].schedules[0].from", "HH:MM");
  has("rate_limits.policies[1].name", "duplicate policy name 'p'");
  has("rate_limits.policies[1].reservation", "reservation must be none");
  has("rate_limits.policies[1].rules[0].by", "must be one of global");
  for (const auto& x : e) {
    EXPECT_GT(x.line, 0) << x.path;
  }
}

TEST(NativeConfig, TimeZoneNamesAreCheckedAtLoad) {
  auto e = errorsOf(R"(
rate_limits:
  policies:
  - name: traversal
    time_zone: ../../etc/passwd
    rules: [{by: global, limits: [{tokens: 1, per: minute}]}]
  - name: absolute
    time_zone: /etc/localtime
    rules: [{by: global, limits: [{tokens: 1, per: minute}]}]
  - name: offset
    time_zone: "+25:00"
    rules: [{by: global, limits: [{tokens: 1, per: minute}]}]
)");
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].path, "rate_limits.policies[0].time_zone");
  EXPECT_NE(e[0].message.find("invalid time zone name '../../etc/passwd'"), std::string::npos)
      << e[0].message;
  EXPECT_NE(e[1].message.find("invalid time zone name '/etc/localtime'"), std::string::npos)
      << e[1].message;
  EXPECT_NE(e[2].message.find("must be an IANA time zone such as Europe/Berlin or a fixed UTC"),
            std::string::npos)
      << e[2].message;
  for (const auto& x : e) {
    EXPECT_GT(x.line, 0) << x.path;
  }
}

// Peak hours follow the wall clock of an IANA zone across daylight saving: mon-fri
// 09:00-18:00 in Europe/Berlin is 08:00-17:00 UTC in winter and 07:00-16:00 UTC in summer.
TEST(NativeConfig, SchedulesFollowDaylightSavingInAnIanaZone) {
  auto set = load(R"(
rate_limits:
  policies:
  - name: p
    time_zone: Europe/Berlin
    rules:
    - by: global
      limits: [{tokens: 1000, per: minute}]
      schedules:
      - days: mon-fri
        from: "09:00"
        to: "18:00"
        limits: [{tokens: 100, per: minute}]
)");
  ASSERT_EQ(set.policies.size(), 1u);
  auto limitAt = [&](int y, unsigned m, unsigned d, int hh, int mm) {
    auto t = std::chrono::sys_days(std::chrono::year(y) / m / d) + std::chrono::hours(hh) +
             std::chrono::minutes(mm);
    return match(set, Req{}.facts(), store::TimePoint(t.time_since_epoch()))[0].spec.limit;
  };
  // Wednesday 2026-07-01 08:30 UTC = 10:30 CEST: peak.
  EXPECT_EQ(limitAt(2026, 7, 1, 8, 30), 100u);
  // Summer: 06:59 UTC = 08:59 CEST (off peak), 07:00 UTC = 09:00 CEST (peak), 16:00 UTC = 18:00.
  EXPECT_EQ(limitAt(2026, 7, 1, 6, 59), 1000u);
  EXPECT_EQ(limitAt(2026, 7, 1, 7, 0), 100u);
  EXPECT_EQ(limitAt(2026, 7, 1, 16, 0), 1000u);
  // Wednesday 2026-01-07 08:30 UTC = 09:30 CET: peak; 07:30 UTC = 08:30 CET: not yet.
  EXPECT_EQ(limitAt(2026, 1, 7, 8, 30), 100u);
  EXPECT_EQ(limitAt(2026, 1, 7, 7, 30), 1000u);
  EXPECT_EQ(limitAt(2026, 1, 7, 16, 59), 100u);  // 17:59 CET
  EXPECT_EQ(limitAt(2026, 1, 7, 17, 0), 1000u);  // 18:00 CET
  // Monday 2026-03-30, the first working day of summer time: 07:00 UTC is already 09:00.
  EXPECT_EQ(limitAt(2026, 3, 30, 7, 0), 100u);
  // Friday 2026-03-27, still winter: 07:00 UTC is 08:00.
  EXPECT_EQ(limitAt(2026, 3, 27, 7, 0), 1000u);
  // Saturday 2026-07-04 10:00 local: weekend.
  EXPECT_EQ(limitAt(2026, 7, 4, 8, 0), 1000u);
}

TEST(NativeConfig, UtcOffsets) {
  EXPECT_EQ(parseUtcOffset("+08:00"), 480);
  EXPECT_EQ(parseUtcOffset("-05:30"), -330);
  EXPECT_EQ(parseUtcOffset("+0530"), 330);
  EXPECT_EQ(parseUtcOffset("+8"), 480);
  EXPECT_EQ(parseUtcOffset("UTC"), 0);
  EXPECT_EQ(parseUtcOffset("Z"), 0);
  EXPECT_EQ(parseUtcOffset("+15:00"), std::nullopt);
  EXPECT_EQ(parseUtcOffset("Europe/Paris"), std::nullopt);
  EXPECT_EQ(parseUtcOffset("+08:60"), std::nullopt);
}

}  // namespace
}  // namespace tg::limiter

namespace tg::limiter {
namespace {

std::string exampleText(const char* name) {
  // TG_EXAMPLES_DIR comes from CMake: __FILE__ may be relative (ccache's base_dir rewrite).
  std::string path = std::string(TG_EXAMPLES_DIR) + "/" + name;
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << path;
  return ss.str();
}

TEST(Examples, NativeAndHigressExamplesLoad) {
  auto native = load(exampleText("limits.yaml"));
  EXPECT_EQ(native.policies.size(), 2u);
  EXPECT_EQ(native.consumers.size(), 2u);
  EXPECT_EQ(findConsumerByKey(native.consumers, "sk-bob")->consumer->name, "bob");
  auto higress = load(exampleText("higress-ai-token-ratelimit.yaml"));
  ASSERT_EQ(higress.policies.size(), 1u);
  EXPECT_EQ(higress.policies[0].rules.size(), 10u);  // global + nine selectors
}

}  // namespace
}  // namespace tg::limiter
