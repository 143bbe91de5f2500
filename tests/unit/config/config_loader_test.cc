// config/loader.h: YAML text to a validated Config, or every error with its path and line.
// The environment is a fake (EnvLookup lambda), so ${VAR} results are deterministic.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "config/loader.h"

namespace tg::config {
namespace {

using namespace std::chrono_literals;

EnvLookup fakeEnv(std::map<std::string, std::string> vars = {}) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

// The smallest valid config; tests append or replace sections.
constexpr std::string_view kMinimal = R"(listeners:
  - address: 127.0.0.1:8080
upstreams:
  - name: up
    url: http://127.0.0.1:9000
routes:
  - upstream: up
)";

std::string describe(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.errors) {
    s += formatError("cfg.yaml", e) + "\n";
  }
  return s;
}

Config loadOk(std::string_view yaml, const EnvLookup& env = fakeEnv()) {
  LoadResult r = loadConfigString(yaml, env);
  EXPECT_TRUE(r.errors.empty()) << describe(r);
  EXPECT_TRUE(r.config.has_value());
  return r.config ? *r.config : Config{};
}

// The errors of a config that must not load.
std::vector<ConfigError> loadErrors(std::string_view yaml, const EnvLookup& env = fakeEnv()) {
  LoadResult r = loadConfigString(yaml, env);
  EXPECT_FALSE(r.config.has_value()) << "config unexpectedly loaded";
  EXPECT_FALSE(r.errors.empty());
  return r.errors;
}

// The one error of a config with a single mistake.
ConfigError onlyError(std::string_view yaml, const EnvLookup& env = fakeEnv()) {
  auto errs = loadErrors(yaml, env);
  EXPECT_EQ(errs.size(), 1u) << describe(LoadResult{std::nullopt, errs});
  return errs.empty() ? ConfigError{} : errs[0];
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------------------------
// Every key, parsed into its field.

constexpr std::string_view kEveryKey = R"(server:
  workers: 4
  drain_timeout: 250ms
  access_log: /var/log/tokengate.log
  trusted_proxies: 2
listeners:
  - address: 127.0.0.1:8080
  - address: "[::1]:8443"
    tls:
      cert_file: /dev/null
      key_file: /dev/null
limits:
  max_header_bytes: 32KiB
  max_headers: 50
  max_body_bytes: 2MiB
  header_timeout: 5s
  body_timeout: 2m
  idle_timeout: 90s
  max_requests_per_connection: 1000
upstreams:
  - name: openai
    url: https://api.openai.com:8443/openai/
    tls:
      verify: false
      ca_file: /dev/null
      server_name: api.internal
    connect_timeout: 750ms
    first_byte_timeout: 10s
    idle_timeout: 5m
    pool:
      max_idle: 8
      idle_timeout: 1h
    headers:
      remove: [x-debug, X-Trace]
      set:
        Authorization: "Bearer ${OPENAI_API_KEY}"
        OpenAI-Organization: org-1
      add:
        X-Extra: one
  - name: local
    url: http://[::1]:9000
routes:
  - name: chat
    match:
      host: "*.example.com"
      path_prefix: /v1/
    upstream: openai
    rewrite_prefix: /api/
    dialect: anthropic
  - match: { path_prefix: /v1beta/ }
    upstream: local
    dialect: gemini
  - upstream: local
    rewrite_prefix: ""
    dialect: openai
)";

TEST(ConfigLoaderTest, EveryKeyParsesIntoItsField) {
  Config c = loadOk(kEveryKey, fakeEnv({{"OPENAI_API_KEY", "sk-test"}}));

  EXPECT_EQ(c.server.workers, 4u);
  EXPECT_EQ(c.server.drainTimeout, 250ms);
  EXPECT_EQ(c.server.accessLog, "/var/log/tokengate.log");
  EXPECT_EQ(c.server.trustedProxies, 2u);

  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].address, "127.0.0.1:8080");
  EXPECT_EQ(c.listeners[0].host, "127.0.0.1");
  EXPECT_EQ(c.listeners[0].port, 8080);
  EXPECT_FALSE(c.listeners[0].tls.has_value());
  EXPECT_EQ(c.listeners[1].address, "[::1]:8443");
  EXPECT_EQ(c.listeners[1].host, "::1");
  EXPECT_EQ(c.listeners[1].port, 8443);
  ASSERT_TRUE(c.listeners[1].tls.has_value());
  EXPECT_EQ(c.listeners[1].tls->certFile, "/dev/null");
  EXPECT_EQ(c.listeners[1].tls->keyFile, "/dev/null");

  EXPECT_EQ(c.limits.maxHeaderBytes, 32u * 1024);
  EXPECT_EQ(c.limits.maxHeaders, 50u);
  EXPECT_EQ(c.limits.maxBodyBytes, 2u * 1024 * 1024);
  EXPECT_EQ(c.limits.headerTimeout, 5s);
  EXPECT_EQ(c.limits.bodyTimeout, 2min);
  EXPECT_EQ(c.limits.idleTimeout, 90s);
  EXPECT_EQ(c.limits.maxRequestsPerConnection, 1000u);

  ASSERT_EQ(c.upstreams.size(), 2u);
  const UpstreamConfig& u = c.upstreams[0];
  EXPECT_EQ(u.name, "openai");
  EXPECT_EQ(u.url, "https://api.openai.com:8443/openai/");
  EXPECT_TRUE(u.https);
  EXPECT_EQ(u.host, "api.openai.com");
  EXPECT_EQ(u.port, 8443);
  EXPECT_EQ(u.basePath, "/openai");
  EXPECT_FALSE(u.tls.verify);
  EXPECT_EQ(u.tls.caFile, "/dev/null");
  EXPECT_EQ(u.tls.serverName, "api.internal");
  EXPECT_EQ(u.connectTimeout, 750ms);
  EXPECT_EQ(u.firstByteTimeout, 10s);
  EXPECT_EQ(u.idleTimeout, 5min);
  EXPECT_EQ(u.poolMaxIdle, 8u);
  EXPECT_EQ(u.poolIdleTimeout, 1h);
  EXPECT_EQ(u.removeHeaders, (std::vector<std::string>{"x-debug", "X-Trace"}));
  ASSERT_EQ(u.setHeaders.size(), 2u);
  EXPECT_EQ(u.setHeaders[0].name, "Authorization");
  EXPECT_EQ(u.setHeaders[0].value, "Bearer sk-test");
  EXPECT_EQ(u.setHeaders[1].name, "OpenAI-Organization");
  EXPECT_EQ(u.setHeaders[1].value, "org-1");
  ASSERT_EQ(u.addHeaders.size(), 1u);
  EXPECT_EQ(u.addHeaders[0].name, "X-Extra");
  EXPECT_EQ(u.addHeaders[0].value, "one");
  EXPECT_EQ(c.upstreams[1].host, "::1");
  EXPECT_FALSE(c.upstreams[1].https);

  ASSERT_EQ(c.routes.size(), 3u);
  EXPECT_EQ(c.routes[0].name, "chat");
  EXPECT_EQ(c.routes[0].matchHost, "*.example.com");
  EXPECT_EQ(c.routes[0].pathPrefix, "/v1/");
  EXPECT_EQ(c.routes[0].upstream, "openai");
  EXPECT_EQ(c.routes[0].upstreamIndex, 0u);
  EXPECT_EQ(c.routes[0].rewritePrefix, std::optional<std::string>("/api/"));
  EXPECT_EQ(c.routes[0].dialect, Dialect::Anthropic);
  EXPECT_EQ(c.routes[1].name, "route1");  // unnamed routes are numbered
  EXPECT_EQ(c.routes[1].pathPrefix, "/v1beta/");
  EXPECT_EQ(c.routes[1].upstreamIndex, 1u);
  EXPECT_EQ(c.routes[1].dialect, Dialect::Gemini);
  EXPECT_EQ(c.routes[2].name, "route2");
  EXPECT_EQ(c.routes[2].rewritePrefix, std::optional<std::string>(""));
  EXPECT_EQ(c.routes[2].dialect, Dialect::OpenAI);
}

TEST(ConfigLoaderTest, AbsentKeysKeepTheirDefaults) {
  Config c = loadOk(kMinimal);
  const Config d;  // the defaults of config.h
  EXPECT_EQ(c.server.workers, 0u);
  EXPECT_EQ(c.server.drainTimeout, 30s);
  EXPECT_EQ(c.server.accessLog, "stdout");
  EXPECT_EQ(c.server.trustedProxies, 0u);
  EXPECT_EQ(c.limits.maxHeaderBytes, 64u * 1024);
  EXPECT_EQ(c.limits.maxHeaders, 100u);
  EXPECT_EQ(c.limits.maxBodyBytes, 8u * 1024 * 1024);
  EXPECT_EQ(c.limits.headerTimeout, 10s);
  EXPECT_EQ(c.limits.bodyTimeout, 60s);
  EXPECT_EQ(c.limits.idleTimeout, 60s);
  EXPECT_EQ(c.limits.maxRequestsPerConnection, 0u);
  ASSERT_EQ(c.upstreams.size(), 1u);
  const UpstreamConfig& u = c.upstreams[0];
  EXPECT_TRUE(u.tls.verify);
  EXPECT_EQ(u.tls.caFile, "");
  EXPECT_EQ(u.tls.serverName, "");
  EXPECT_EQ(u.connectTimeout, 5s);
  EXPECT_EQ(u.firstByteTimeout, 300s);
  EXPECT_EQ(u.idleTimeout, 300s);
  EXPECT_EQ(u.poolMaxIdle, 64u);
  EXPECT_EQ(u.poolIdleTimeout, 60s);
  EXPECT_TRUE(u.removeHeaders.empty());
  EXPECT_TRUE(u.setHeaders.empty());
  EXPECT_TRUE(u.addHeaders.empty());
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].name, "route0");
  EXPECT_EQ(c.routes[0].matchHost, "");
  EXPECT_EQ(c.routes[0].pathPrefix, "/");
  EXPECT_FALSE(c.routes[0].rewritePrefix.has_value());
  EXPECT_EQ(c.routes[0].dialect, Dialect::OpenAI);
  EXPECT_EQ(c.server.drainTimeout, d.server.drainTimeout);
}

TEST(ConfigLoaderTest, EmptySectionsKeepTheirDefaults) {
  Config c = loadOk(std::string(kMinimal) + "server:\nlimits: {}\n");
  EXPECT_EQ(c.server.accessLog, "stdout");
  EXPECT_EQ(c.limits.maxHeaders, 100u);
}

TEST(ConfigLoaderTest, ExampleConfigLoadsWithItsDocumentedValues) {
  std::ifstream in(std::string(TG_EXAMPLES_DIR) + "/tokengate.yaml");
  ASSERT_TRUE(in) << "cannot open examples/tokengate.yaml";
  std::stringstream ss;
  ss << in.rdbuf();

  Config c = loadOk(ss.str());  // OPENAI_API_KEY unset: its default applies
  EXPECT_EQ(c.server.workers, 0u);
  EXPECT_EQ(c.server.drainTimeout, 30s);
  EXPECT_EQ(c.server.accessLog, "stdout");
  EXPECT_EQ(c.server.trustedProxies, 0u);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].host, "127.0.0.1");
  EXPECT_EQ(c.listeners[0].port, 8080);
  EXPECT_EQ(c.limits.maxHeaderBytes, 64u * 1024);
  EXPECT_EQ(c.limits.maxHeaders, 100u);
  EXPECT_EQ(c.limits.maxBodyBytes, 8u * 1024 * 1024);
  EXPECT_EQ(c.limits.headerTimeout, 10s);
  EXPECT_EQ(c.limits.bodyTimeout, 60s);
  EXPECT_EQ(c.limits.idleTimeout, 60s);
  EXPECT_EQ(c.limits.maxRequestsPerConnection, 0u);
  ASSERT_EQ(c.upstreams.size(), 1u);
  const UpstreamConfig& u = c.upstreams[0];
  EXPECT_EQ(u.name, "openai");
  EXPECT_TRUE(u.https);
  EXPECT_EQ(u.host, "api.openai.com");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.basePath, "");
  EXPECT_TRUE(u.tls.verify);
  EXPECT_EQ(u.tls.caFile, "");
  EXPECT_EQ(u.tls.serverName, "");
  EXPECT_EQ(u.connectTimeout, 5s);
  EXPECT_EQ(u.firstByteTimeout, 300s);
  EXPECT_EQ(u.idleTimeout, 300s);
  EXPECT_EQ(u.poolMaxIdle, 64u);
  EXPECT_EQ(u.poolIdleTimeout, 60s);
  EXPECT_EQ(u.removeHeaders, (std::vector<std::string>{"x-debug"}));
  ASSERT_EQ(u.setHeaders.size(), 1u);
  EXPECT_EQ(u.setHeaders[0].name, "Authorization");
  EXPECT_EQ(u.setHeaders[0].value, "Bearer sk-not-set");
  EXPECT_TRUE(u.addHeaders.empty());
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].name, "openai");
  EXPECT_EQ(c.routes[0].matchHost, "");
  EXPECT_EQ(c.routes[0].pathPrefix, "/v1/");
  EXPECT_EQ(c.routes[0].upstream, "openai");
  EXPECT_EQ(c.routes[0].rewritePrefix, std::optional<std::string>(""));
  EXPECT_EQ(c.routes[0].dialect, Dialect::OpenAI);

  Config withKey = loadOk(ss.str(), fakeEnv({{"OPENAI_API_KEY", "sk-live"}}));
  ASSERT_EQ(withKey.upstreams.size(), 1u);
  EXPECT_EQ(withKey.upstreams[0].setHeaders[0].value, "Bearer sk-live");
}

std::string readExample(const std::string& name) {
  std::ifstream in(std::string(TG_EXAMPLES_DIR) + "/" + name);
  EXPECT_TRUE(in) << "cannot open examples/" << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every example but quickstart.yaml (a template: scripts/run.sh fills in {PORT}) loads once
// its provider keys are set, apart from TLS files that exist only on a real deployment.
TEST(ConfigLoaderTest, EveryExampleConfigLoadsWithKeysSet) {
  EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name.ends_with("_API_KEY")) {
      return "test-key-for-" + name;
    }
    return std::nullopt;
  };
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(TG_EXAMPLES_DIR)) {
    std::string name = entry.path().filename().string();
    // limits.yaml and higress-ai-token-ratelimit.yaml hold limiter sections only; they are
    // loaded by tests/unit/limiter until the gateway loader reads those sections.
    // prometheus-alerts.yaml holds Prometheus alerting rules, not a tokengate config.
    if (entry.path().extension() != ".yaml" || name == "quickstart.yaml" ||
        name == "limits.yaml" || name == "higress-ai-token-ratelimit.yaml" ||
        name == "prometheus-alerts.yaml") {
      continue;
    }
    LoadResult r = loadConfigString(readExample(name), env);
    for (const auto& e : r.errors) {
      EXPECT_TRUE(e.message.starts_with("cannot read file '/etc/"))
          << name << ": " << formatError(name, e);
    }
    ++loaded;
  }
  EXPECT_GE(loaded, 1);
}

TEST(ConfigLoaderTest, ExampleWithoutItsKeyNamesTheVariable) {
  auto errs = loadErrors(readExample("openai.yaml"));
  ASSERT_EQ(errs.size(), 1u) << describe(LoadResult{std::nullopt, errs});
  EXPECT_EQ(errs[0].message, "environment variable OPENAI_API_KEY is not set");
  EXPECT_GT(errs[0].line, 0);
}

// ---------------------------------------------------------------------------------------------
// Scalars: units, booleans, integers.

Config withServer(std::string_view server) {
  return loadOk(std::string(kMinimal) + "server:\n" + std::string(server));
}
Config withLimits(std::string_view limits) {
  return loadOk(std::string(kMinimal) + "limits:\n" + std::string(limits));
}

TEST(ConfigLoaderTest, DurationsAcceptEveryUnit) {
  EXPECT_EQ(withLimits("  header_timeout: 250ms\n").limits.headerTimeout, 250ms);
  EXPECT_EQ(withLimits("  header_timeout: 10s\n").limits.headerTimeout, 10s);
  EXPECT_EQ(withLimits("  header_timeout: 5m\n").limits.headerTimeout, 5min);
  EXPECT_EQ(withLimits("  header_timeout: 1h\n").limits.headerTimeout, 1h);
  EXPECT_EQ(withLimits("  header_timeout: 1d\n").limits.headerTimeout, 24h);
  EXPECT_EQ(withLimits("  header_timeout: 7\n").limits.headerTimeout, 7s);
}

TEST(ConfigLoaderTest, DrainTimeoutMayBeZeroButRequestTimeoutsMayNot) {
  EXPECT_EQ(withServer("  drain_timeout: 0s\n").server.drainTimeout, 0ms);
  auto e = onlyError(std::string(kMinimal) + "limits:\n  body_timeout: 0s\n");
  EXPECT_EQ(e.path, "limits.body_timeout");
  EXPECT_EQ(e.line, 9);
  EXPECT_TRUE(contains(e.message, "positive duration")) << e.message;
}

TEST(ConfigLoaderTest, SizesAcceptBinaryUnits) {
  EXPECT_EQ(withLimits("  max_body_bytes: 64KiB\n").limits.maxBodyBytes, 65536u);
  EXPECT_EQ(withLimits("  max_body_bytes: 8MiB\n").limits.maxBodyBytes, 8u << 20);
  EXPECT_EQ(withLimits("  max_body_bytes: 1GiB\n").limits.maxBodyBytes, 1u << 30);
  EXPECT_EQ(withLimits("  max_body_bytes: 4096\n").limits.maxBodyBytes, 4096u);
  EXPECT_EQ(withLimits("  max_header_bytes: 1KB\n").limits.maxHeaderBytes, 1000u);
}

TEST(ConfigLoaderTest, ZeroOrMalformedSizesAreErrors) {
  auto e = onlyError(std::string(kMinimal) + "limits:\n  max_body_bytes: 0\n");
  EXPECT_EQ(e.path, "limits.max_body_bytes");
  EXPECT_TRUE(contains(e.message, "positive size")) << e.message;
  e = onlyError(std::string(kMinimal) + "limits:\n  max_header_bytes: lots\n");
  EXPECT_EQ(e.path, "limits.max_header_bytes");
  EXPECT_TRUE(contains(e.message, "'lots'")) << e.message;
}

TEST(ConfigLoaderTest, BooleansAcceptYamlSpellings) {
  auto verify = [](std::string_view v) {
    Config c = loadOk(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams:
  - name: up
    url: https://h
    tls: { verify: )" +
                      std::string(v) + R"( }
routes: [{upstream: up}]
)");
    return c.upstreams.empty() ? true : c.upstreams[0].tls.verify;
  };
  EXPECT_TRUE(verify("true"));
  EXPECT_TRUE(verify("yes"));
  EXPECT_TRUE(verify("on"));
  EXPECT_FALSE(verify("false"));
  EXPECT_FALSE(verify("no"));
  EXPECT_FALSE(verify("off"));
}

TEST(ConfigLoaderTest, NonBooleanIsAnError) {
  auto e = onlyError(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams:
  - name: up
    url: https://h
    tls:
      verify: maybe
routes: [{upstream: up}]
)");
  EXPECT_EQ(e.path, "upstreams[0].tls.verify");
  EXPECT_EQ(e.line, 6);
  EXPECT_EQ(e.message, "must be true or false, got 'maybe'");
}

TEST(ConfigLoaderTest, IntegersAreRangeChecked) {
  EXPECT_EQ(withServer("  workers: 1024\n").server.workers, 1024u);
  EXPECT_EQ(withServer("  trusted_proxies: 64\n").server.trustedProxies, 64u);
  for (const char* bad : {"  workers: 1025\n", "  workers: -1\n", "  workers: 2.5\n",
                          "  workers: four\n", "  trusted_proxies: 65\n"}) {
    auto errs = loadErrors(std::string(kMinimal) + "server:\n" + bad);
    ASSERT_EQ(errs.size(), 1u) << bad;
    EXPECT_TRUE(contains(errs[0].message, "must be an integer from 0 to")) << errs[0].message;
    EXPECT_EQ(errs[0].line, 9) << bad;
  }
}

TEST(ConfigLoaderTest, ScalarExpectedWhereListGiven) {
  auto e = onlyError(std::string(kMinimal) + "server:\n  access_log: [a, b]\n");
  EXPECT_EQ(e.path, "server.access_log");
  EXPECT_EQ(e.message, "must be a scalar");
  EXPECT_EQ(e.line, 9);
}

TEST(ConfigLoaderTest, SectionMustBeAMapping) {
  auto e = onlyError(std::string(kMinimal) + "server: 3\n");
  EXPECT_EQ(e.path, "server");
  EXPECT_EQ(e.message, "must be a mapping");
  EXPECT_EQ(e.line, 8);
}

TEST(ConfigLoaderTest, ListExpectedWhereScalarGiven) {
  auto errs = loadErrors(R"(listeners: 127.0.0.1:8080
upstreams: [{name: up, url: "http://h"}]
routes: [{upstream: up}]
)");
  // The whole-config check then finds no listener either; both are reported.
  ASSERT_EQ(errs.size(), 2u) << describe(LoadResult{std::nullopt, errs});
  EXPECT_EQ(errs[0].path, "listeners");
  EXPECT_EQ(errs[0].message, "must be a list");
  EXPECT_EQ(errs[0].line, 1);
  EXPECT_EQ(errs[1].path, "listeners");
  EXPECT_EQ(errs[1].message, "at least one listener is required");
}

// ---------------------------------------------------------------------------------------------
// Environment variables.

TEST(ConfigLoaderTest, EnvVariablesAreSubstitutedInEveryScalar) {
  Config c = loadOk(
      R"(server:
  workers: ${WORKERS}
listeners:
  - address: ${HOST:-127.0.0.1}:${PORT}
upstreams:
  - name: up
    url: ${UPSTREAM_URL}
routes:
  - upstream: up
)",
      fakeEnv({{"WORKERS", "3"}, {"PORT", "9999"}, {"UPSTREAM_URL", "https://llm.internal/v2"}}));
  EXPECT_EQ(c.server.workers, 3u);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].host, "127.0.0.1");
  EXPECT_EQ(c.listeners[0].port, 9999);
  ASSERT_EQ(c.upstreams.size(), 1u);
  EXPECT_EQ(c.upstreams[0].host, "llm.internal");
  EXPECT_EQ(c.upstreams[0].basePath, "/v2");
}

TEST(ConfigLoaderTest, DoubleDollarKeepsLiteralReference) {
  Config c = loadOk(std::string(kMinimal) + "server:\n  access_log: /logs/$${HOME}/a.log\n");
  EXPECT_EQ(c.server.accessLog, "/logs/${HOME}/a.log");
}

TEST(ConfigLoaderTest, UnsetVariableIsAnErrorWithPathAndLine) {
  auto e = onlyError(R"(listeners:
  - address: 127.0.0.1:8080
upstreams:
  - name: up
    url: http://127.0.0.1:9000
    headers:
      set:
        Authorization: "Bearer ${OPENAI_API_KEY}"
routes:
  - upstream: up
)");
  EXPECT_EQ(e.path, "upstreams[0].headers.set.Authorization");
  EXPECT_EQ(e.line, 8);
  EXPECT_EQ(e.message, "environment variable OPENAI_API_KEY is not set");
  EXPECT_EQ(formatError("tg.yaml", e),
            "tg.yaml:8: upstreams[0].headers.set.Authorization: "
            "environment variable OPENAI_API_KEY is not set");
}

// ---------------------------------------------------------------------------------------------
// Unknown keys, required keys, references.

TEST(ConfigLoaderTest, UnknownTopLevelKeyIsRejectedWithLine) {
  auto e = onlyError(std::string(kMinimal) + "limitz:\n  max_headers: 5\n");
  EXPECT_EQ(e.path, "limitz");
  EXPECT_EQ(e.line, 8);
  EXPECT_EQ(e.message, "unknown key");
}

TEST(ConfigLoaderTest, UnknownNestedKeyIsRejectedWithPathAndLine) {
  auto e = onlyError(R"(listeners:
  - address: 127.0.0.1:8080
upstreams:
  - name: up
    url: http://127.0.0.1:9000
    pool:
      max_idel: 3
routes:
  - upstream: up
)");
  EXPECT_EQ(e.path, "upstreams[0].pool.max_idel");
  EXPECT_EQ(e.line, 7);
  EXPECT_EQ(e.message, "unknown key");
}

TEST(ConfigLoaderTest, UnknownKeyInsideRouteMatch) {
  auto e = onlyError(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams: [{name: up, url: "http://h"}]
routes:
  - upstream: up
    match:
      path: /v1
)");
  EXPECT_EQ(e.path, "routes[0].match.path");
  EXPECT_EQ(e.line, 6);
}

TEST(ConfigLoaderTest, SeveralErrorsAreReportedTogether) {
  auto errs = loadErrors(R"(server:
  workers: many
  colour: blue
listeners:
  - address: nowhere
limits:
  header_timeout: soon
upstreams:
  - name: up
    url: ftp://h
routes:
  - upstream: up
    dialect: klingon
)");
  std::map<std::string, int> lineByPath;
  for (const auto& e : errs) {
    lineByPath[e.path] = e.line;
  }
  EXPECT_EQ(errs.size(), 6u) << describe(LoadResult{std::nullopt, errs});
  EXPECT_EQ(lineByPath, (std::map<std::string, int>{{"server.workers", 2},
                                                    {"server.colour", 3},
                                                    {"listeners[0].address", 5},
                                                    {"limits.header_timeout", 7},
                                                    {"upstreams[0].url", 10},
                                                    {"routes[0].dialect", 13}}));
}

TEST(ConfigLoaderTest, ErrorsFromEverySectionAreCollected) {
  auto errs = loadErrors(R"(listeners:
  - address: nowhere
upstreams:
  - name: up
    url: ftp://h
routes:
  - upstream: up
    dialect: klingon
)");
  ASSERT_EQ(errs.size(), 3u) << describe(LoadResult{std::nullopt, errs});
  EXPECT_EQ(errs[0].path, "listeners[0].address");
  EXPECT_EQ(errs[0].line, 2);
  EXPECT_EQ(errs[1].path, "upstreams[0].url");
  EXPECT_EQ(errs[1].line, 5);
  EXPECT_TRUE(contains(errs[1].message, "must start with http:// or https://")) << errs[1].message;
  EXPECT_EQ(errs[2].path, "routes[0].dialect");
  EXPECT_EQ(errs[2].line, 8);
  EXPECT_EQ(errs[2].message, "must be openai, anthropic or gemini, got 'klingon'");
}

TEST(ConfigLoaderTest, MissingListenersIsAnError) {
  auto e = onlyError(R"(upstreams: [{name: up, url: "http://h"}]
routes: [{upstream: up}]
)");
  EXPECT_EQ(e.path, "listeners");
  EXPECT_EQ(e.line, 0);
  EXPECT_EQ(e.message, "at least one listener is required");
  EXPECT_EQ(formatError("tg.yaml", e), "tg.yaml: listeners: at least one listener is required");
}

TEST(ConfigLoaderTest, EmptyListenerListIsAnError) {
  auto e = onlyError(R"(listeners: []
upstreams: [{name: up, url: "http://h"}]
routes: [{upstream: up}]
)");
  EXPECT_EQ(e.path, "listeners");
}

TEST(ConfigLoaderTest, MissingRoutesIsAnError) {
  auto e = onlyError(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams: [{name: up, url: "http://h"}]
)");
  EXPECT_EQ(e.path, "routes");
  EXPECT_EQ(e.message, "at least one route is required");
}

TEST(ConfigLoaderTest, ListenerWithoutAddressIsAnError) {
  auto e = onlyError(R"(listeners:
  - tls: {cert_file: /dev/null, key_file: /dev/null}
upstreams: [{name: up, url: "http://h"}]
routes: [{upstream: up}]
)");
  EXPECT_EQ(e.path, "listeners[0].address");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.message, "is required");
}

TEST(ConfigLoaderTest, ListenerTlsNeedsCertAndKey) {
  auto e = onlyError(R"(listeners:
  - address: 127.0.0.1:8443
    tls:
      cert_file: /dev/null
upstreams: [{name: up, url: "http://h"}]
routes: [{upstream: up}]
)");
  EXPECT_EQ(e.path, "listeners[0].tls");
  EXPECT_EQ(e.message, "needs both cert_file and key_file");
}

TEST(ConfigLoaderTest, UnreadableTlsFilesAreErrors) {
  auto e = onlyError(R"(listeners:
  - address: 127.0.0.1:8443
    tls: {cert_file: /nonexistent/tg.crt, key_file: /dev/null}
upstreams: [{name: up, url: "http://h"}]
routes: [{upstream: up}]
)");
  EXPECT_EQ(e.path, "listeners[0].tls");
  EXPECT_EQ(e.line, 3);  // the line of the tls key
  EXPECT_EQ(e.message, "cannot read file '/nonexistent/tg.crt'");
}

TEST(ConfigLoaderTest, UpstreamWithoutUrlIsAnError) {
  auto e = onlyError(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams:
  - name: up
routes: [{upstream: up}]
)");
  EXPECT_EQ(e.path, "upstreams[0].url");
  EXPECT_EQ(e.line, 3);
  EXPECT_EQ(e.message, "is required");
}

TEST(ConfigLoaderTest, UpstreamWithoutNameIsAnError) {
  auto errs = loadErrors(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams:
  - url: http://h
routes: [{upstream: up}]
)");
  // The route then names no upstream either: both are reported.
  ASSERT_EQ(errs.size(), 2u) << describe(LoadResult{std::nullopt, errs});
  EXPECT_EQ(errs[0].path, "upstreams[0].name");
  EXPECT_EQ(errs[0].line, 3);
  EXPECT_EQ(errs[0].message, "is required");
  EXPECT_EQ(errs[1].path, "routes[0].upstream");
  EXPECT_EQ(errs[1].message, "names no upstream: 'up'");
}

TEST(ConfigLoaderTest, RouteWithoutUpstreamIsAnError) {
  auto e = onlyError(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams: [{name: up, url: "http://h"}]
routes:
  - name: r
    match: {path_prefix: /}
)");
  EXPECT_EQ(e.path, "routes[0].upstream");
  EXPECT_EQ(e.line, 4);
  EXPECT_EQ(e.message, "is required");
}

TEST(ConfigLoaderTest, RouteNamingUnknownUpstreamIsAnError) {
  auto e = onlyError(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams: [{name: openai, url: "http://h"}]
routes:
  - upstream: openai
  - upstream: anthropic
)");
  EXPECT_EQ(e.path, "routes[1].upstream");
  EXPECT_EQ(e.line, 5);
  EXPECT_EQ(e.message, "names no upstream: 'anthropic'");
}

TEST(ConfigLoaderTest, WholeConfigErrorsPointAtTheOffendingKey) {
  auto errs = loadErrors(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams:
  - url: http://a
    name: up
  - url: http://b
    connect_timeout: 1s
    name: up
routes:
  - name: r
    match:
      path_prefix: /
    upstream: nowhere
)");
  ASSERT_EQ(errs.size(), 2u) << describe(LoadResult{std::nullopt, errs});
  EXPECT_EQ(errs[0].path, "upstreams[1].name");
  EXPECT_EQ(errs[0].line, 7);
  EXPECT_EQ(errs[1].path, "routes[0].upstream");
  EXPECT_EQ(errs[1].line, 12);
}

TEST(ConfigLoaderTest, FieldAndWholeConfigErrorsAreReportedTogether) {
  auto errs = loadErrors(R"(listeners:
  - address: nowhere
upstreams: [{name: up, url: "http://h"}]
routes:
  - upstream: down
)");
  ASSERT_EQ(errs.size(), 2u) << describe(LoadResult{std::nullopt, errs});
  EXPECT_EQ(errs[0].path, "listeners[0].address");
  EXPECT_EQ(errs[0].line, 2);
  EXPECT_EQ(errs[1].path, "routes[0].upstream");
  EXPECT_EQ(errs[1].line, 5);
}

TEST(ConfigLoaderTest, DuplicateUpstreamNamesAreAnError) {
  auto e = onlyError(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams:
  - name: up
    url: http://a
  - name: up
    url: http://b
routes: [{upstream: up}]
)");
  EXPECT_EQ(e.path, "upstreams[1].name");
  EXPECT_EQ(e.line, 5);
  EXPECT_EQ(e.message, "duplicate upstream name 'up'");
}

TEST(ConfigLoaderTest, BadUrlSchemeIsAnErrorQuotingTheUrl) {
  auto e = onlyError(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams:
  - name: up
    url: ws://h/socket
routes: [{upstream: up}]
)");
  EXPECT_EQ(e.path, "upstreams[0].url");
  EXPECT_EQ(e.line, 4);
  EXPECT_EQ(e.message, "'ws://h/socket' must start with http:// or https://");
}

TEST(ConfigLoaderTest, UrlWithCredentialsOrQueryIsAnError) {
  auto e = onlyError(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams: [{name: up, url: "https://k:s@h"}]
routes: [{upstream: up}]
)");
  EXPECT_TRUE(contains(e.message, "credentials")) << e.message;
  e = onlyError(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams: [{name: up, url: "https://h/v1?key=1"}]
routes: [{upstream: up}]
)");
  EXPECT_TRUE(contains(e.message, "query")) << e.message;
}

TEST(ConfigLoaderTest, PathPrefixMustStartWithSlash) {
  auto e = onlyError(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams: [{name: up, url: "http://h"}]
routes:
  - upstream: up
    match:
      path_prefix: v1/
)");
  EXPECT_EQ(e.path, "routes[0].match.path_prefix");
  EXPECT_EQ(e.line, 6);
  EXPECT_EQ(e.message, "must start with '/'");
}

TEST(ConfigLoaderTest, RewritePrefixMustBeEmptyOrAbsolute) {
  auto e = onlyError(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams: [{name: up, url: "http://h"}]
routes:
  - upstream: up
    rewrite_prefix: api/
)");
  EXPECT_EQ(e.path, "routes[0].rewrite_prefix");
  EXPECT_EQ(e.line, 4);
}

TEST(ConfigLoaderTest, HeaderNamesAndValuesAreValidated) {
  auto errs = loadErrors(R"(listeners: [{address: "127.0.0.1:1"}]
upstreams:
  - name: up
    url: http://h
    headers:
      set:
        "Bad Name": x
        X-Ok: "a\r\nInjected: 1"
routes: [{upstream: up}]
)");
  ASSERT_EQ(errs.size(), 2u) << describe(LoadResult{std::nullopt, errs});
  EXPECT_EQ(errs[0].path, "upstreams[0].headers.set.Bad Name");
  EXPECT_EQ(errs[0].line, 7);
  EXPECT_EQ(errs[0].message, "is not a valid HTTP header name");
  EXPECT_EQ(errs[1].path, "upstreams[0].headers.set.X-Ok");
  EXPECT_EQ(errs[1].line, 8);
  EXPECT_EQ(errs[1].message, "header value must not contain CR or LF");
}

// ---------------------------------------------------------------------------------------------
// Documents that are not configs at all.

TEST(ConfigLoaderTest, InvalidYamlReportsItsLine) {
  auto e = onlyError("listeners:\n  - address: 127.0.0.1:1\nroutes: [\n  {upstream: up\n");
  EXPECT_EQ(e.path, "");
  EXPECT_GE(e.line, 3);
  EXPECT_TRUE(contains(e.message, "invalid YAML")) << e.message;
  EXPECT_TRUE(formatError("x.yaml", e).starts_with("x.yaml:" + std::to_string(e.line) + ": "))
      << formatError("x.yaml", e);
}

TEST(ConfigLoaderTest, BadIndentationReportsItsLine) {
  auto e = onlyError("server:\n  workers: 1\n access_log: stdout\n");
  EXPECT_EQ(e.line, 3);
  EXPECT_TRUE(contains(e.message, "invalid YAML")) << e.message;
}

TEST(ConfigLoaderTest, DocumentMustBeAMapping) {
  for (const char* doc : {"", "just a string", "- a\n- b\n", "~"}) {
    auto e = onlyError(doc);
    EXPECT_EQ(e.message, "the document must be a mapping") << "doc: " << doc;
    EXPECT_EQ(e.line, 1);
  }
}

TEST(ConfigLoaderTest, MissingFileIsAnError) {
  LoadResult r = loadConfigFile("/nonexistent/tokengate.yaml", fakeEnv());
  EXPECT_FALSE(r.config.has_value());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "cannot read config file '/nonexistent/tokengate.yaml'");
}

TEST(ConfigLoaderTest, ValidateResolvesRouteUpstreamIndex) {
  Config c;
  c.listeners.push_back({"127.0.0.1:1", "127.0.0.1", 1, std::nullopt});
  UpstreamConfig a;
  a.name = "a";
  UpstreamConfig b;
  b.name = "b";
  c.upstreams = {a, b};
  RouteConfig r;
  r.upstream = "b";
  c.routes = {r};
  EXPECT_TRUE(validate(c).empty());
  EXPECT_EQ(c.routes[0].upstreamIndex, 1u);
  EXPECT_EQ(c.routes[0].name, "route0");
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker and fallback upstream

constexpr std::string_view kTwoUpstreams = R"(listeners:
  - address: 127.0.0.1:8080
upstreams:
  - name: up
    url: http://127.0.0.1:9000
)";

TEST(ConfigLoaderTest, CircuitBreakerIsOffWhenAbsentAndDefaultsWhenEmpty) {
  Config off = loadOk(kMinimal);
  EXPECT_FALSE(off.upstreams[0].circuitBreaker.has_value());
  EXPECT_TRUE(off.routes[0].fallbackUpstream.empty());
  EXPECT_FALSE(off.routes[0].fallbackIndex.has_value());

  Config on = loadOk(std::string(kTwoUpstreams) + "    circuit_breaker: {}\nroutes:\n  - upstream: up\n");
  ASSERT_TRUE(on.upstreams[0].circuitBreaker.has_value());
  const CircuitBreakerConfig& cb = *on.upstreams[0].circuitBreaker;
  EXPECT_EQ(cb.consecutiveFailures, 5u);
  EXPECT_EQ(cb.errorRatePercent, 50u);
  EXPECT_EQ(cb.window, 10s);
  EXPECT_EQ(cb.minRequests, 20u);
  EXPECT_EQ(cb.openFor, 30s);
  EXPECT_EQ(cb.halfOpenProbes, 1u);
  ASSERT_EQ(cb.failureStatuses.size(), 1u);
  EXPECT_EQ(cb.failureStatuses[0].from, 500);
  EXPECT_EQ(cb.failureStatuses[0].to, 599);
}

TEST(ConfigLoaderTest, CircuitBreakerKeysAndFallbackUpstream) {
  Config c = loadOk(std::string(kTwoUpstreams) + R"(    circuit_breaker:
      consecutive_failures: 3
      error_rate: 25%
      window: 30s
      min_requests: 8
      open_for: 2s
      max_open_for: 1m
      half_open_probes: 2
      failure_statuses: [429, 502-504]
  - name: backup
    url: http://127.0.0.1:9001
routes:
  - upstream: up
    fallback_upstream: backup
)");
  const CircuitBreakerConfig& cb = *c.upstreams[0].circuitBreaker;
  EXPECT_EQ(cb.consecutiveFailures, 3u);
  EXPECT_EQ(cb.errorRatePercent, 25u);
  EXPECT_EQ(cb.window, 30s);
  EXPECT_EQ(cb.minRequests, 8u);
  EXPECT_EQ(cb.openFor, 2s);
  EXPECT_EQ(cb.maxOpenFor, 60s);
  EXPECT_EQ(cb.halfOpenProbes, 2u);
  ASSERT_EQ(cb.failureStatuses.size(), 2u);
  EXPECT_EQ(cb.failureStatuses[0].from, 429);
  EXPECT_EQ(cb.failureStatuses[0].to, 429);
  EXPECT_EQ(cb.failureStatuses[1].from, 502);
  EXPECT_EQ(cb.failureStatuses[1].to, 504);
  EXPECT_FALSE(c.upstreams[1].circuitBreaker.has_value());
  EXPECT_EQ(c.routes[0].fallbackUpstream, "backup");
  EXPECT_EQ(c.routes[0].fallbackIndex, std::optional<size_t>(1));
}

TEST(ConfigLoaderTest, CircuitBreakerValuesAreChecked) {
  auto errorOf = [](std::string_view lines) {
    return onlyError(std::string(kTwoUpstreams) + "    circuit_breaker:\n" + std::string(lines) +
                     "routes:\n  - upstream: up\n");
  };
  ConfigError e = errorOf("      error_rate: 150%\n");
  EXPECT_EQ(e.path, "upstreams[0].circuit_breaker.error_rate");
  EXPECT_TRUE(contains(e.message, "percentage")) << e.message;
  e = errorOf("      failure_statuses: [500-499]\n");
  EXPECT_EQ(e.path, "upstreams[0].circuit_breaker.failure_statuses[0]");
  e = errorOf("      failure_statuses: [5xx]\n");
  EXPECT_EQ(e.path, "upstreams[0].circuit_breaker.failure_statuses[0]");
  e = errorOf("      half_open_probes: 0\n");
  EXPECT_EQ(e.path, "upstreams[0].circuit_breaker.half_open_probes");
  e = errorOf("      open_for: 0s\n");
  EXPECT_EQ(e.path, "upstreams[0].circuit_breaker.open_for");
  e = errorOf("      opens_for: 1s\n");
  EXPECT_EQ(e.message, "unknown key");
}

TEST(ConfigLoaderTest, FallbackUpstreamMustNameAnotherUpstream) {
  ConfigError e = onlyError(std::string(kTwoUpstreams) +
                            "routes:\n  - upstream: up\n    fallback_upstream: nope\n");
  EXPECT_EQ(e.path, "routes[0].fallback_upstream");
  EXPECT_EQ(e.message, "names no upstream: 'nope'");
  e = onlyError(std::string(kTwoUpstreams) +
                "routes:\n  - upstream: up\n    fallback_upstream: up\n");
  EXPECT_EQ(e.path, "routes[0].fallback_upstream");
  EXPECT_EQ(e.message, "must differ from upstream");
}

// ---------------------------------------------------------------------------------------------
// formatError

TEST(FormatErrorTest, FileLinePathMessage) {
  EXPECT_EQ(formatError("tg.yaml", {"routes[1].upstream", 12, "names no upstream: 'x'"}),
            "tg.yaml:12: routes[1].upstream: names no upstream: 'x'");
}

TEST(FormatErrorTest, OmitsUnknownLineAndEmptyPath) {
  EXPECT_EQ(formatError("tg.yaml", {"", 0, "cannot read"}), "tg.yaml: cannot read");
  EXPECT_EQ(formatError("tg.yaml", {"", 3, "invalid YAML: x"}), "tg.yaml:3: invalid YAML: x");
  EXPECT_EQ(formatError("tg.yaml", {"routes", 0, "required"}), "tg.yaml: routes: required");
}

}  // namespace
}  // namespace tg::config
