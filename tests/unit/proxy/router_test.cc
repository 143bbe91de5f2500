// proxy/router.h: route selection by host and path prefix, and the target sent upstream.

#include "proxy/router.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace tg::proxy {
namespace {

config::RouteConfig route(std::string name, std::string prefix, std::string host = "") {
  config::RouteConfig r;
  r.name = std::move(name);
  r.pathPrefix = std::move(prefix);
  r.matchHost = std::move(host);
  return r;
}

// Name of the matched route, or "-" when none matches.
std::string matched(const config::Config& c, std::string_view host, std::string_view path) {
  const config::RouteConfig* r = matchRoute(c, host, path);
  return r ? r->name : "-";
}

TEST(MatchRouteTest, FirstMatchingRouteWins) {
  config::Config c;
  c.routes = {route("messages", "/v1/messages"), route("v1", "/v1/"), route("all", "/")};
  EXPECT_EQ(matched(c, "gw", "/v1/messages"), "messages");
  EXPECT_EQ(matched(c, "gw", "/v1/messages/count_tokens"), "messages");
  EXPECT_EQ(matched(c, "gw", "/v1/chat/completions"), "v1");
  EXPECT_EQ(matched(c, "gw", "/healthz"), "all");
  EXPECT_EQ(matched(c, "gw", "/v1"), "all");
}

TEST(MatchRouteTest, OrderMattersEvenWhenALaterRouteIsMoreSpecific) {
  config::Config c;
  c.routes = {route("all", "/"), route("messages", "/v1/messages")};
  EXPECT_EQ(matched(c, "gw", "/v1/messages"), "all");
}

TEST(MatchRouteTest, NoMatchIsNull) {
  config::Config c;
  c.routes = {route("v1", "/v1/")};
  EXPECT_EQ(matchRoute(c, "gw", "/v2/x"), nullptr);
  EXPECT_EQ(matchRoute(c, "gw", ""), nullptr);
  config::Config empty;
  EXPECT_EQ(matchRoute(empty, "gw", "/"), nullptr);
}

TEST(MatchRouteTest, PathPrefixIsCaseSensitive) {
  config::Config c;
  c.routes = {route("v1", "/v1/")};
  EXPECT_EQ(matched(c, "gw", "/V1/chat"), "-");
}

TEST(MatchRouteTest, ExactHostIsCaseInsensitiveAndIgnoresPort) {
  config::Config c;
  c.routes = {route("api", "/", "api.example.com"), route("other", "/")};
  EXPECT_EQ(matched(c, "api.example.com", "/x"), "api");
  EXPECT_EQ(matched(c, "API.Example.COM", "/x"), "api");
  EXPECT_EQ(matched(c, "api.example.com:8443", "/x"), "api");
  EXPECT_EQ(matched(c, "api.example.org", "/x"), "other");
  EXPECT_EQ(matched(c, "xapi.example.com", "/x"), "other");
  EXPECT_EQ(matched(c, "", "/x"), "other");
}

TEST(MatchRouteTest, WildcardHostMatchesSubdomainsOnly) {
  config::Config c;
  c.routes = {route("wild", "/", "*.example.com"), route("other", "/")};
  EXPECT_EQ(matched(c, "a.example.com", "/"), "wild");
  EXPECT_EQ(matched(c, "a.b.example.com:80", "/"), "wild");
  EXPECT_EQ(matched(c, "A.EXAMPLE.com", "/"), "wild");
  EXPECT_EQ(matched(c, "example.com", "/"), "other");
  EXPECT_EQ(matched(c, ".example.com", "/"), "other");
  EXPECT_EQ(matched(c, "badexample.com", "/"), "other");
  EXPECT_EQ(matched(c, "a.example.com.evil", "/"), "other");
}

TEST(MatchRouteTest, Ipv6HostLiteral) {
  config::Config c;
  c.routes = {route("v6", "/", "::1"), route("other", "/")};
  EXPECT_EQ(matched(c, "[::1]:8080", "/"), "v6");
  EXPECT_EQ(matched(c, "[::1]", "/"), "v6");
  EXPECT_EQ(matched(c, "[::2]:8080", "/"), "other");
}

TEST(MatchRouteTest, HostAndPathMustBothMatch) {
  config::Config c;
  c.routes = {route("a", "/v1/", "a.example.com"), route("b", "/v2/", "b.example.com")};
  EXPECT_EQ(matched(c, "a.example.com", "/v2/x"), "-");
  EXPECT_EQ(matched(c, "b.example.com", "/v2/x"), "b");
}

TEST(TargetPathTest, DropsQuery) {
  EXPECT_EQ(targetPath("/v1/models?limit=5"), "/v1/models");
  EXPECT_EQ(targetPath("/v1/models"), "/v1/models");
  EXPECT_EQ(targetPath("/?"), "/");
}

TEST(TargetPathTest, ReducesAbsoluteForm) {
  EXPECT_EQ(targetPath("http://api.example.com/v1/chat?x=1"), "/v1/chat");
  EXPECT_EQ(targetPath("https://api.example.com:8443/v1/chat"), "/v1/chat");
  EXPECT_EQ(targetPath("http://api.example.com"), "/");
  EXPECT_EQ(targetPath("http://[::1]:8080/p"), "/p");
}

TEST(TargetPathTest, LeavesOtherFormsAlone) {
  EXPECT_EQ(targetPath("*"), "*");
  EXPECT_EQ(targetPath("/a://b"), "/a://b");
}

// Regression (was a bug in src/proxy/router.cc originForm): for an absolute-form target with a
// query but no path, the '/' is searched for across the query, so "http://h?next=/admin" becomes
// "/admin" instead of "/" — routing (and upstreamTarget) act on a path the client never requested.
// Fixed: "/" (and "/?next=/admin" upstream).
TEST(TargetPathTest, AbsoluteFormWithQueryButNoPath) {
  EXPECT_EQ(targetPath("http://h?next=/admin"), "/");
  config::RouteConfig r = route("all", "/");
  config::UpstreamConfig up;
  EXPECT_EQ(upstreamTarget(r, up, "http://h?next=/admin"), "/?next=/admin");
}

// ---------------------------------------------------------------------------------------------
// upstreamTarget

config::RouteConfig rewriting(std::string prefix, std::optional<std::string> rewrite) {
  config::RouteConfig r = route("r", std::move(prefix));
  r.rewritePrefix = std::move(rewrite);
  return r;
}

config::UpstreamConfig withBase(std::string basePath) {
  config::UpstreamConfig u;
  u.basePath = std::move(basePath);
  return u;
}

TEST(UpstreamTargetTest, WithoutRewriteTargetIsKept) {
  auto r = rewriting("/v1/", std::nullopt);
  EXPECT_EQ(upstreamTarget(r, withBase(""), "/v1/chat?stream=true"), "/v1/chat?stream=true");
}

TEST(UpstreamTargetTest, BasePathIsPrepended) {
  auto r = rewriting("/v1/", std::nullopt);
  EXPECT_EQ(upstreamTarget(r, withBase("/openai"), "/v1/chat"), "/openai/v1/chat");
  EXPECT_EQ(upstreamTarget(r, withBase("/a/b"), "/v1/chat?x=1"), "/a/b/v1/chat?x=1");
}

TEST(UpstreamTargetTest, AbsoluteFormIsReducedBeforeForwarding) {
  auto r = rewriting("/v1/", std::nullopt);
  EXPECT_EQ(upstreamTarget(r, withBase(""), "http://gw.example.com/v1/chat?x=1"), "/v1/chat?x=1");
  EXPECT_EQ(upstreamTarget(r, withBase("/base"), "http://gw.example.com"), "/base/");
}

TEST(UpstreamTargetTest, RewriteReplacesPrefix) {
  // Slash-terminated prefix and rewrite.
  EXPECT_EQ(upstreamTarget(rewriting("/v1/", "/api/v2/"), withBase(""), "/v1/chat"),
            "/api/v2/chat");
  // Neither ends with a slash.
  EXPECT_EQ(upstreamTarget(rewriting("/v1", "/api"), withBase(""), "/v1/chat"), "/api/chat");
  // Rewrite ends with a slash, prefix does not: no doubled slash.
  EXPECT_EQ(upstreamTarget(rewriting("/v1", "/api/"), withBase(""), "/v1/chat"), "/api/chat");
  // Prefix ends with a slash, rewrite does not: the separator is restored.
  EXPECT_EQ(upstreamTarget(rewriting("/v1/", "/api"), withBase(""), "/v1/chat"), "/api/chat");
}

TEST(UpstreamTargetTest, EmptyRewriteStripsPrefix) {
  EXPECT_EQ(upstreamTarget(rewriting("/v1", ""), withBase(""), "/v1/chat"), "/chat");
  EXPECT_EQ(upstreamTarget(rewriting("/v1/", ""), withBase(""), "/v1/chat"), "/chat");
  EXPECT_EQ(upstreamTarget(rewriting("/v1", ""), withBase(""), "/v1"), "/");
  EXPECT_EQ(upstreamTarget(rewriting("/v1/", ""), withBase(""), "/v1/"), "/");
}

TEST(UpstreamTargetTest, RewriteKeepsQuery) {
  EXPECT_EQ(upstreamTarget(rewriting("/v1", ""), withBase(""), "/v1?x=1"), "/?x=1");
  EXPECT_EQ(upstreamTarget(rewriting("/v1", "/api"), withBase(""), "/v1?x=1"), "/api?x=1");
  EXPECT_EQ(upstreamTarget(rewriting("/v1/", "/api/"), withBase(""), "/v1/m?a=b/c"),
            "/api/m?a=b/c");
}

TEST(UpstreamTargetTest, RootRewrite) {
  EXPECT_EQ(upstreamTarget(rewriting("/", "/api/"), withBase(""), "/chat"), "/api/chat");
  EXPECT_EQ(upstreamTarget(rewriting("/", "/api/"), withBase(""), "/"), "/api/");
  EXPECT_EQ(upstreamTarget(rewriting("/gemini/", "/"), withBase(""), "/gemini/v1beta/models"),
            "/v1beta/models");
}

TEST(UpstreamTargetTest, RewriteAndBasePathCombine) {
  EXPECT_EQ(
      upstreamTarget(rewriting("/openai/", "/v1/"), withBase("/proxy"), "/openai/chat/completions"),
      "/proxy/v1/chat/completions");
  EXPECT_EQ(upstreamTarget(rewriting("/v1", ""), withBase("/base"), "/v1"), "/base/");
}

TEST(UpstreamTargetTest, RewriteAppliesToAbsoluteForm) {
  EXPECT_EQ(upstreamTarget(rewriting("/v1/", "/api/"), withBase(""), "http://gw/v1/chat?q=1"),
            "/api/chat?q=1");
}

}  // namespace
}  // namespace tg::proxy

namespace tg::proxy {
namespace {

// The request path's allocation-free form builds the same targets.
TEST(AppendUpstreamTargetTest, SameAsUpstreamTarget) {
  config::RouteConfig plain;
  plain.pathPrefix = "/";
  config::RouteConfig rewrite = plain;
  rewrite.pathPrefix = "/v1";
  rewrite.rewritePrefix = "/api";
  for (const config::RouteConfig* r : {&plain, &rewrite}) {
    for (std::string_view base : {"", "/openai", "/a/b"}) {
      config::UpstreamConfig up;
      up.basePath = std::string(base);
      for (std::string_view t : {"/v1/chat", "/v1/chat?x=1", "http://gw.example.com/v1/chat?x=1",
                                 "http://gw.example.com", "http://h?next=/admin"}) {
        std::string out = "keep:";
        appendUpstreamTarget(out, *r, up, t);
        EXPECT_EQ(out, "keep:" + upstreamTarget(*r, up, t)) << t << " base " << base;
      }
    }
  }
}

}  // namespace
}  // namespace tg::proxy
