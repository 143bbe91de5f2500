// The admin API's pure parts: routing, auth, query strings, JSON bodies and responses, and the
// redacted config document.
#include "admin/api.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include "admin/config_json.h"

namespace tg::admin {
namespace {

TEST(AdminRoute, FixedEndpoints) {
  EXPECT_EQ(route("GET", "/healthz").endpoint, Endpoint::Healthz);
  EXPECT_EQ(route("GET", "/readyz").endpoint, Endpoint::Readyz);
  EXPECT_EQ(route("GET", "/metrics").endpoint, Endpoint::Metrics);
  EXPECT_EQ(route("GET", "/admin/config").endpoint, Endpoint::Config);
  EXPECT_EQ(route("GET", "/admin/buckets?consumer=a").endpoint, Endpoint::Buckets);
  EXPECT_EQ(route("POST", "/admin/buckets/reset?consumer=a").endpoint, Endpoint::BucketsReset);
  EXPECT_EQ(route("GET", "/admin/top?n=3").endpoint, Endpoint::Top);
  EXPECT_EQ(route("POST", "/admin/reload").endpoint, Endpoint::Reload);
}

TEST(AdminRoute, QuotaEndpointsDecodeTheName) {
  RouteMatch m = route("GET", "/admin/quota/alice");
  EXPECT_EQ(m.endpoint, Endpoint::QuotaGet);
  EXPECT_EQ(m.consumer, "alice");
  m = route("PUT", "/admin/quota/team%20a%2Fb");
  EXPECT_EQ(m.endpoint, Endpoint::QuotaSet);
  EXPECT_EQ(m.consumer, "team a/b");
  EXPECT_EQ(route("DELETE", "/admin/quota/alice").endpoint, Endpoint::QuotaDelete);
  m = route("POST", "/admin/quota/alice/increase");
  EXPECT_EQ(m.endpoint, Endpoint::QuotaIncrease);
  EXPECT_EQ(m.consumer, "alice");
  EXPECT_EQ(route("POST", "/admin/quota/alice/decrease?x=1").endpoint, Endpoint::QuotaDecrease);
}

TEST(AdminRoute, WrongMethodIs405WithAllow) {
  RouteMatch m = route("POST", "/healthz");
  EXPECT_FALSE(m.endpoint);
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "GET");
  m = route("POST", "/admin/quota/alice");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "GET, PUT, DELETE");
  m = route("GET", "/admin/quota/alice/increase");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "POST");
  EXPECT_EQ(route("GET", "/admin/reload").status, 405);
  EXPECT_EQ(route("GET", "/admin/buckets/reset").status, 405);
}

TEST(AdminRoute, UnknownPathsAre404) {
  EXPECT_EQ(route("GET", "/index.html").status, 404);  // "/" is the console (ConsoleAndEvents)
  EXPECT_EQ(route("GET", "/admin").status, 404);
  EXPECT_EQ(route("GET", "/admin/quota/").status, 404);
  EXPECT_EQ(route("POST", "/admin/quota/alice/reset").status, 404);
  EXPECT_EQ(route("GET", "/healthz/x").status, 404);
}

TEST(AdminRoute, MalformedNamesAre400) {
  EXPECT_EQ(route("GET", "/admin/quota/%zz").status, 400);
  EXPECT_EQ(route("GET", "/admin/quota/a%0Ab").status, 400);  // control character
  EXPECT_EQ(route("GET", "/admin/quota/" + std::string(300, 'a')).status, 400);
}

TEST(AdminRoute, ConsoleAndEvents) {
  for (const char* p : {"/", "/console", "/console/", "/console/app.js", "/console/app.css"}) {
    RouteMatch m = route("GET", p);
    EXPECT_EQ(m.endpoint, Endpoint::Console) << p;
    EXPECT_EQ(m.asset, p);
  }
  EXPECT_EQ(route("GET", "/console?x=1").asset, "/console");
  EXPECT_EQ(route("POST", "/console").status, 405);
  EXPECT_EQ(route("GET", "/console/app.map").status, 404);
  EXPECT_EQ(route("GET", "/admin/events?after=5").endpoint, Endpoint::Events);
  EXPECT_EQ(route("DELETE", "/admin/events").status, 405);
  EXPECT_EQ(route("GET", "/admin/reloads").endpoint, Endpoint::Reloads);
  EXPECT_EQ(route("POST", "/admin/reloads").status, 405);
}

TEST(AdminJson, ReloadsListTheGenerationAndEachReloadWithItsErrors) {
  const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  std::vector<ReloadRecord> r = {{t, true, 1, {}},
                                 {t + std::chrono::seconds(1), false, 1, {"f.yaml:3: x: \"bad\""}}};
  EXPECT_EQ(jsonReloads(1, r),
            R"({"generation":1,"reloads":[{"time":"2023-11-14T22:13:20.000Z","ok":true,"generation":1,"errors":[]},)"
            R"({"time":"2023-11-14T22:13:21.000Z","ok":false,"generation":1,"errors":["f.yaml:3: x: \"bad\""]}]})"
            "\n");
  EXPECT_EQ(jsonReloads(0, {}), "{\"generation\":0,\"reloads\":[]}\n");
}

TEST(AdminRoute, OnlyHealthReadinessAndTheConsoleFilesAreOpen) {
  EXPECT_FALSE(requiresAuth(Endpoint::Healthz));
  EXPECT_FALSE(requiresAuth(Endpoint::Readyz));
  EXPECT_FALSE(requiresAuth(Endpoint::Console));
  for (Endpoint e : {Endpoint::Metrics, Endpoint::Config, Endpoint::Buckets,
                     Endpoint::BucketsReset, Endpoint::Top, Endpoint::Events, Endpoint::Reloads, Endpoint::QuotaGet,
                     Endpoint::QuotaSet, Endpoint::QuotaDelete, Endpoint::QuotaIncrease,
                     Endpoint::QuotaDecrease, Endpoint::Reload}) {
    EXPECT_TRUE(requiresAuth(e));
  }
}

TEST(AdminQuery, ParamsAreDecoded) {
  std::string_view q = "consumer=team+a%2B1&route=chat&empty=&n=5";
  EXPECT_EQ(queryParam(q, "consumer"), "team a+1");
  EXPECT_EQ(queryParam(q, "route"), "chat");
  EXPECT_EQ(queryParam(q, "empty"), "");
  EXPECT_EQ(queryParam(q, "n"), "5");
  EXPECT_FALSE(queryParam(q, "model"));
  EXPECT_FALSE(queryParam("a=%4", "a"));  // truncated escape
  EXPECT_EQ(queryParam("", "a"), std::nullopt);
  EXPECT_EQ(targetPath("/a/b?c=d"), "/a/b");
  EXPECT_EQ(targetQuery("/a/b?c=d"), "c=d");
  EXPECT_EQ(targetQuery("/a/b"), "");
}

TEST(AdminAuth, NoTokenAllowsEverything) {
  auto a = TokenAuth::make("");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->enabled());
  EXPECT_TRUE(a->allows(""));
}

TEST(AdminAuth, BearerTokenChecked) {
  auto a = TokenAuth::make("s3cret-token");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->enabled());
  EXPECT_TRUE(a->allows("Bearer s3cret-token"));
  EXPECT_TRUE(a->allows("bearer s3cret-token"));
  EXPECT_TRUE(a->allows("  Bearer   s3cret-token  "));
  EXPECT_FALSE(a->allows(""));
  EXPECT_FALSE(a->allows("Bearer"));
  EXPECT_FALSE(a->allows("Bearer "));
  EXPECT_FALSE(a->allows("Bearer s3cret-toke"));
  EXPECT_FALSE(a->allows("Bearer s3cret-token2"));
  EXPECT_FALSE(a->allows("Basic s3cret-token"));
  EXPECT_FALSE(a->allows("s3cret-token"));
}

TEST(AdminAuth, Sha256FormKeepsTheSecretOutOfTheConfig) {
  unsigned char d[32];
  std::string token = "another-secret";
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), d);
  std::string hex;
  for (unsigned char c : d) {
    const char* digits = "0123456789abcdef";
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  auto a = TokenAuth::make("sha256:" + hex);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->allows("Bearer another-secret"));
  EXPECT_FALSE(a->allows("Bearer sha256:" + hex));
  EXPECT_FALSE(TokenAuth::make("sha256:abc"));
  EXPECT_FALSE(TokenAuth::make("sha256:" + std::string(64, 'g')));
}

TEST(AdminBody, QuotaAndAmount) {
  auto v = parseIntegerBody(R"({"quota": 1000})", "quota", 0);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 1000);
  v = parseIntegerBody(R"({"quota":0})", "quota", 0);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 0);
  v = parseIntegerBody(R"( {"amount": 25} )", "amount", 1);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 25);
}

TEST(AdminBody, BadInputSaysWhatIsWrong) {
  auto expectError = [](std::string_view body, std::string_view field, int64_t min,
                        std::string_view fragment) {
    auto v = parseIntegerBody(body, field, min);
    ASSERT_FALSE(v) << body;
    EXPECT_NE(v.error().find(fragment), std::string::npos) << v.error();
  };
  expectError("", "quota", 0, "a JSON body is required");
  expectError("{", "quota", 0, "not valid JSON");
  expectError("[1]", "quota", 0, "must be a JSON object");
  expectError("{}", "quota", 0, "missing 'quota'");
  expectError(R"({"quota":"5"})", "quota", 0, "must be an integer");
  expectError(R"({"quota":1.5})", "quota", 0, "must be an integer");
  expectError(R"({"quota":-1})", "quota", 0, "from 0 to");
  expectError(R"({"amount":0})", "amount", 1, "from 1 to");
  expectError(R"({"quota":9007199254740992})", "quota", 0, "from 0 to 9007199254740991");
  expectError(R"({"quota":5,"extra":1})", "quota", 0, "unknown key 'extra'");
  expectError(R"({"amount":5})", "quota", 0, "unknown key 'amount'");
}

TEST(AdminJson, ErrorsAndQuotas) {
  EXPECT_EQ(jsonError("bad", "say \"why\""),
            "{\"error\":{\"code\":\"bad\",\"message\":\"say \\\"why\\\"\"}}\n");
  EXPECT_EQ(jsonQuota("alice", 42), "{\"consumer\":\"alice\",\"quota\":42,\"unlimited\":false}\n");
  EXPECT_EQ(jsonQuota("bob", std::nullopt),
            "{\"consumer\":\"bob\",\"quota\":null,\"unlimited\":true}\n");
}

TEST(AdminHttp, RenderResponse) {
  std::string r = renderResponse(401, "application/json", "{}", true,
                                 "WWW-Authenticate: Bearer\r\n");
  EXPECT_EQ(r,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            "Cache-Control: no-store\r\nWWW-Authenticate: Bearer\r\nConnection: close\r\n\r\n{}");
  EXPECT_STREQ(reasonPhrase(422), "Unprocessable Content");
}

TEST(AdminConfigJson, SecretsAreRedacted) {
  config::Config cfg;
  config::UpstreamConfig u;
  u.name = "openai";
  u.url = "https://api.openai.com";
  u.setHeaders.push_back({"Authorization", "Bearer sk-live-123"});
  u.addHeaders.push_back({"X-Empty", ""});
  cfg.upstreams.push_back(u);
  cfg.store.type = config::StoreConfig::Type::Redis;
  cfg.store.redis.addresses = {"10.0.0.5:6379"};
  cfg.store.redis.password = "redis-pass";
  cfg.admin.enabled = true;
  cfg.admin.token = "admin-token";
  cfg.quota.enabled = true;
  cfg.quota.routes = {"chat"};
  std::string j = configJson(cfg);
  EXPECT_EQ(j.find("sk-live-123"), std::string::npos) << j;
  EXPECT_EQ(j.find("redis-pass"), std::string::npos) << j;
  EXPECT_EQ(j.find("admin-token"), std::string::npos) << j;
  EXPECT_NE(j.find("\"Authorization\":\"<redacted>\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"X-Empty\":\"\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"password\":\"<redacted>\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"token\":\"<redacted>\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"quota\":{\"enabled\":true,\"routes\":[\"chat\"],\"failure_mode\":\"open\"}"),
            std::string::npos)
      << j;
  EXPECT_NE(j.find("\"url\":\"https://api.openai.com\""), std::string::npos) << j;
}

}  // namespace
}  // namespace tg::admin
