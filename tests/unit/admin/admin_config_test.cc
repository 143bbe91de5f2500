// The `admin:` and `quota:` config sections: defaults, parsing and validation.
#include <gtest/gtest.h>

#include "config/loader.h"

namespace tg::config {
namespace {

EnvLookup env() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (name == "TOKENGATE_ADMIN_TOKEN") {
      return std::string("from-env");
    }
    return std::nullopt;
  };
}

const std::string kBase = R"(
listeners: [{address: "127.0.0.1:8080"}]
upstreams: [{name: sim, url: "http://127.0.0.1:9090"}]
routes: [{name: chat, match: {path_prefix: /v1/}, upstream: sim}]
)";

LoadResult load(const std::string& extra) { return loadConfigString(kBase + extra, env()); }

std::string errorsOf(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.errors) {
    s += formatError("f", e) + "\n";
  }
  return s;
}

TEST(AdminConfig, AbsentMeansNoAdminListenerAndNoQuotas) {
  LoadResult r = load("");
  ASSERT_TRUE(r.config) << errorsOf(r);
  EXPECT_FALSE(r.config->admin.enabled);
  EXPECT_FALSE(r.config->quota.enabled);
  EXPECT_EQ(r.config->admin.listen, "127.0.0.1:9901");
}

TEST(AdminConfig, SectionEnablesWithDefaults) {
  LoadResult r = load("admin: {}\n");
  ASSERT_TRUE(r.config) << errorsOf(r);
  EXPECT_TRUE(r.config->admin.enabled);
  EXPECT_EQ(r.config->admin.host, "127.0.0.1");
  EXPECT_EQ(r.config->admin.port, 9901);
  EXPECT_EQ(r.config->admin.token, "");
}

TEST(AdminConfig, ListenAndTokenFromEnv) {
  LoadResult r = load("admin: {listen: \"0.0.0.0:9000\", token: \"${TOKENGATE_ADMIN_TOKEN}\"}\n");
  ASSERT_TRUE(r.config) << errorsOf(r);
  EXPECT_EQ(r.config->admin.host, "0.0.0.0");
  EXPECT_EQ(r.config->admin.port, 9000);
  EXPECT_EQ(r.config->admin.token, "from-env");
}

TEST(AdminConfig, NonLoopbackWithoutTokenIsAnError) {
  LoadResult r = load("admin:\n  listen: \"0.0.0.0:9901\"\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << errorsOf(r);
  EXPECT_EQ(r.errors[0].path, "admin.token");
  EXPECT_EQ(r.errors[0].line, 6);  // the admin mapping
  // Loopback addresses may go without a token.
  EXPECT_TRUE(load("admin: {listen: \"[::1]:9901\"}\n").config);
  EXPECT_TRUE(load("admin: {listen: \"127.0.0.2:9901\"}\n").config);
  EXPECT_TRUE(load("admin: {listen: \"localhost:9901\"}\n").config);
}

TEST(AdminConfig, BadValues) {
  EXPECT_FALSE(load("admin: {listen: nohostport}\n").config);
  EXPECT_FALSE(load("admin: {listen: \"example.com:9901\", token: t}\n").config);
  EXPECT_FALSE(load("admin: {token: \"sha256:abcd\"}\n").config);
  EXPECT_FALSE(load("admin: {colour: blue}\n").config);
  LoadResult r = load("admin: {enabled: false, listen: \"0.0.0.0:1\"}\n");
  ASSERT_TRUE(r.config) << errorsOf(r);  // a disabled listener is not checked
  EXPECT_FALSE(r.config->admin.enabled);
}

TEST(QuotaConfig, Parsed) {
  LoadResult r = load("quota: {enabled: true, routes: [chat], failure_mode: closed}\n");
  ASSERT_TRUE(r.config) << errorsOf(r);
  EXPECT_TRUE(r.config->quota.enabled);
  EXPECT_EQ(r.config->quota.routes, std::vector<std::string>{"chat"});
  EXPECT_TRUE(r.config->quota.failClosed);
}

TEST(QuotaConfig, UnknownRouteAndBadModeAreErrors) {
  LoadResult r = load("quota:\n  enabled: true\n  routes: [chat, nope]\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << errorsOf(r);
  EXPECT_EQ(r.errors[0].path, "quota.routes[1]");
  EXPECT_EQ(r.errors[0].line, 7);
  EXPECT_NE(r.errors[0].message.find("nope"), std::string::npos);
  EXPECT_FALSE(load("quota: {failure_mode: maybe}\n").config);
  EXPECT_FALSE(load("quota: {routes: chat}\n").config);
  EXPECT_FALSE(load("quota: {enable: true}\n").config);
}

}  // namespace
}  // namespace tg::config
