// app::loadGatewayConfig*: the proxy config and the limiter's sections of one file, loaded and
// cross-checked together; every example config in examples/ loads through it.

#include "app/config_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tg::app {
namespace {

config::EnvLookup noEnv() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

const char* kBase = R"(
listeners: [{address: 127.0.0.1:8080}]
upstreams: [{name: sim, url: "http://127.0.0.1:9090"}]
routes:
  - {name: chat, match: {path_prefix: /}, upstream: sim, key_auth: required}
)";

std::string errorsText(const GatewayLoadResult& r) {
  std::string s;
  for (const auto& e : r.errors) {
    s += config::formatError("f.yaml", e) + "\n";
  }
  return s;
}

TEST(ConfigFileTest, LoadsBothParts) {
  std::string yaml = std::string(kBase) + R"(
rate_limits:
  consumers: [{name: alice, keys: [sk-a]}]
  policies:
  - name: p
    routes: [chat]
    rules: [{by: per_consumer, limits: [{tokens: 100, per: minute}]}]
)";
  GatewayLoadResult r = loadGatewayConfigString(yaml, noEnv());
  ASSERT_TRUE(r.config) << errorsText(r);
  EXPECT_EQ(r.config->config.routes[0].keyAuth, config::KeyAuth::Required);
  ASSERT_EQ(r.config->policies->policies.size(), 1u);
  EXPECT_EQ(r.config->policies->consumers[0].name, "alice");
  EXPECT_TRUE(r.notes.empty());
}

TEST(ConfigFileTest, NoLimiterSectionsGiveAnEmptyPolicySet) {
  std::string yaml = kBase;
  yaml.replace(yaml.find("required"), 8, "optional");
  GatewayLoadResult r = loadGatewayConfigString(yaml, noEnv());
  ASSERT_TRUE(r.config) << errorsText(r);
  ASSERT_NE(r.config->policies, nullptr);
  EXPECT_TRUE(r.config->policies->policies.empty());
}

TEST(ConfigFileTest, ErrorsOfBothPartsAreReportedTogether) {
  std::string yaml = std::string(kBase) + R"(
server: {workers: many}
rate_limits:
  consumers: [{name: alice, keys: [sk-a]}]
  policies:
  - name: p
    rules: [{by: per_consumer, limits: [{tokens: 100, per: fortnight}]}]
)";
  GatewayLoadResult r = loadGatewayConfigString(yaml, noEnv());
  EXPECT_FALSE(r.config);
  std::string text = errorsText(r);
  EXPECT_NE(text.find("server.workers"), std::string::npos) << text;
  EXPECT_NE(text.find("rate_limits.policies[0].rules[0].limits[0].per"), std::string::npos) << text;
}

TEST(ConfigFileTest, PolicyRouteMustExist) {
  std::string yaml = std::string(kBase) + R"(
rate_limits:
  consumers: [{name: alice, keys: [sk-a]}]
  policies:
  - name: p
    routes: [chta]
    rules: [{by: global, limits: [{tokens: 100, per: minute}]}]
)";
  GatewayLoadResult r = loadGatewayConfigString(yaml, noEnv());
  EXPECT_FALSE(r.config);
  EXPECT_NE(errorsText(r).find("f.yaml:11: rate_limits.policies[0].routes: no route named 'chta'"),
            std::string::npos)
      << errorsText(r);
}

TEST(ConfigFileTest, RequiredKeyAuthNeedsConsumers) {
  GatewayLoadResult r = loadGatewayConfigString(kBase, noEnv());
  EXPECT_FALSE(r.config);
  EXPECT_NE(errorsText(r).find("f.yaml:5: routes[0].key_auth"), std::string::npos) << errorsText(r);
}

TEST(ConfigFileTest, BadKeyAuthValue) {
  std::string yaml = kBase;
  yaml.replace(yaml.find("required"), 8, "maybe");
  GatewayLoadResult r = loadGatewayConfigString(yaml, noEnv());
  EXPECT_FALSE(r.config);
  EXPECT_NE(errorsText(r).find("must be off, optional or required, got 'maybe'"), std::string::npos)
      << errorsText(r);
}

TEST(ConfigFileTest, HigressRedisBlockSelectsRedisWithoutAStoreSection) {
  std::string yaml = std::string(kBase) + R"(
rate_limits:
  consumers: [{name: alice, keys: [sk-a]}]
higress:
  rule_name: r
  global_threshold: {token_per_minute: 1000}
  redis: {service_name: redis.dns, service_port: 6379}
)";
  GatewayLoadResult r = loadGatewayConfigString(yaml, noEnv());
  ASSERT_TRUE(r.config) << errorsText(r);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("selects the Redis store at redis:6379"), std::string::npos)
      << r.notes[0];
  EXPECT_TRUE(r.config->policies->policies[0].higress);
  const config::StoreConfig& st = r.config->config.store;
  EXPECT_EQ(st.type, config::StoreConfig::Type::Redis);
  ASSERT_EQ(st.redis.addresses.size(), 1u);
  EXPECT_EQ(st.redis.addresses[0], "redis:6379");  // ".dns" registry suffix removed
}

TEST(ConfigFileTest, AnExplicitMemoryStoreKeepsHigressRedisAsANote) {
  std::string yaml = std::string(kBase) + R"(
store: {type: memory}
rate_limits:
  consumers: [{name: alice, keys: [sk-a]}]
higress:
  rule_name: r
  global_threshold: {token_per_minute: 1000}
  redis: {service_name: redis.static}
)";
  GatewayLoadResult r = loadGatewayConfigString(yaml, noEnv());
  ASSERT_TRUE(r.config) << errorsText(r);
  EXPECT_EQ(r.config->config.store.type, config::StoreConfig::Type::Memory);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("store.type is memory"), std::string::npos) << r.notes[0];
}

TEST(ConfigFileTest, StoreSection) {
  std::string yaml = std::string(kBase) + R"(
store:
  type: redis
  max_buckets: 5000
  redis:
    addresses: ["127.0.0.1:7000", "127.0.0.1:7001"]
    cluster: true
    username: gw
    password: pw
    tls: {ca_file: /tmp/ca.pem, verify: false}
    timeout: 250ms
    key_prefix: "t:"
rate_limits:
  consumers: [{name: alice, keys: [sk-a]}]
)";
  GatewayLoadResult r = loadGatewayConfigString(yaml, noEnv());
  ASSERT_TRUE(r.config) << errorsText(r);
  const config::StoreConfig& st = r.config->config.store;
  EXPECT_EQ(st.maxBuckets, 5000u);
  EXPECT_TRUE(st.redis.cluster);
  EXPECT_EQ(st.redis.addresses.size(), 2u);
  EXPECT_TRUE(st.redis.tls);
  EXPECT_FALSE(st.redis.tlsVerify);
  EXPECT_EQ(st.redis.timeout.count(), 250);
  EXPECT_EQ(st.redis.keyPrefix, "t:");

  std::string bad = std::string(kBase) + R"(
store: {type: redis, redis: {key_prefix: "a{b"}}
rate_limits:
  consumers: [{name: alice, keys: [sk-a]}]
)";
  GatewayLoadResult b = loadGatewayConfigString(bad, noEnv());
  EXPECT_FALSE(b.config);
  EXPECT_NE(errorsText(b).find("store.redis.address: is required"), std::string::npos)
      << errorsText(b);
  EXPECT_NE(errorsText(b).find("must not contain '{'"), std::string::npos) << errorsText(b);
}

// store.redis.lease: leased by default, a mode word, or the full map; bad values named.
TEST(ConfigFileTest, StoreRedisLease) {
  auto load = [](const std::string& lease) {
    std::string yaml = std::string(kBase) +
                       "store: {type: redis, redis: {address: \"127.0.0.1:6379\"" +
                       (lease.empty() ? "" : ", lease: " + lease) +
                       "}}\nrate_limits:\n  consumers: [{name: alice, keys: [sk-a]}]\n";
    return loadGatewayConfigString(yaml, noEnv());
  };
  GatewayLoadResult d = load("");
  ASSERT_TRUE(d.config) << errorsText(d);
  EXPECT_TRUE(d.config->config.store.redis.lease.enabled);
  EXPECT_EQ(d.config->config.store.redis.lease.ttl.count(), 1000);
  GatewayLoadResult e = load("exact");
  ASSERT_TRUE(e.config) << errorsText(e);
  EXPECT_FALSE(e.config->config.store.redis.lease.enabled);
  GatewayLoadResult m = load("{mode: leased, ttl: 250ms, max_share: 0.25, min_limit: 1000}");
  ASSERT_TRUE(m.config) << errorsText(m);
  const auto& l = m.config->config.store.redis.lease;
  EXPECT_TRUE(l.enabled);
  EXPECT_EQ(l.ttl.count(), 250);
  EXPECT_DOUBLE_EQ(l.maxShare, 0.25);
  EXPECT_EQ(l.minLimit, 1000u);
  GatewayLoadResult bad = load("{mode: sometimes, max_share: 2}");
  EXPECT_FALSE(bad.config);
  EXPECT_NE(
      errorsText(bad).find("store.redis.lease.mode: must be leased or exact, got 'sometimes'"),
      std::string::npos)
      << errorsText(bad);
  EXPECT_NE(errorsText(bad).find("store.redis.lease.max_share: must be a fraction in (0, 1]"),
            std::string::npos)
      << errorsText(bad);
}

std::string readExample(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every complete example (not the quickstart template, not the section-only limits.yaml and
// higress-ai-token-ratelimit.yaml) loads whole, provider keys set, apart from TLS files that
// exist only on a real deployment.
TEST(ConfigFileTest, EveryExampleLoads) {
  config::EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name.ends_with("_API_KEY")) {
      return "test-key-for-" + name;
    }
    return std::nullopt;
  };
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(TG_EXAMPLES_DIR)) {
    std::string name = entry.path().filename().string();
    // prometheus-alerts.yaml: Prometheus alerting rules, not a tokengate config.
    if (entry.path().extension() != ".yaml" || name == "quickstart.yaml" || name == "limits.yaml" ||
        name == "higress-ai-token-ratelimit.yaml" || name == "prometheus-alerts.yaml") {
      continue;
    }
    GatewayLoadResult r = loadGatewayConfigString(readExample(entry.path()), env);
    for (const auto& e : r.errors) {
      EXPECT_TRUE(e.message.starts_with("cannot read file '/etc/"))
          << name << ": " << config::formatError(name, e);
    }
    ++loaded;
  }
  EXPECT_GE(loaded, 5);
}

}  // namespace
}  // namespace tg::app
