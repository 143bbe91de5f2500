// config/config.h: listener addresses (parseHostPort), upstream URLs (parseUpstreamUrl) and
// the Host authority derived from them.

#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace tg::config {
namespace {

struct HostPort {
  bool ok = false;
  std::string host;
  uint16_t port = 0;
};

HostPort hp(const std::string& s) {
  HostPort r;
  r.ok = parseHostPort(s, r.host, r.port);
  return r;
}

TEST(ParseHostPortTest, SplitsNameAndPort) {
  auto r = hp("127.0.0.1:8080");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.host, "127.0.0.1");
  EXPECT_EQ(r.port, 8080);
  r = hp("localhost:1");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.host, "localhost");
  EXPECT_EQ(r.port, 1);
}

TEST(ParseHostPortTest, AcceptsPortZeroAndMaximum) {
  EXPECT_EQ(hp("0.0.0.0:0").port, 0);
  EXPECT_TRUE(hp("0.0.0.0:0").ok);
  EXPECT_EQ(hp("h:65535").port, 65535);
  EXPECT_TRUE(hp("h:65535").ok);
}

TEST(ParseHostPortTest, BracketedIpv6LosesItsBrackets) {
  auto r = hp("[::1]:8080");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.host, "::1");
  EXPECT_EQ(r.port, 8080);
  r = hp("[2001:db8::7]:443");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.host, "2001:db8::7");
}

TEST(ParseHostPortTest, RejectsMalformedAddresses) {
  for (const char* bad : {"", "localhost", ":8080", "host:", "host:65536", "host:99999999999",
                          "host:-1", "host:+80", "host:80x", "host: 80", "::1:8080", "[::1]",
                          "[::1]8080", "[::1]:", "[]:80", "[::1:80", "host:80:90"}) {
    EXPECT_FALSE(hp(bad).ok) << "input: '" << bad << "'";
  }
}

struct Parsed {
  std::string error;
  UpstreamConfig u;
};

Parsed url(const std::string& s) {
  Parsed p;
  p.error = parseUpstreamUrl(s, p.u);
  return p;
}

TEST(ParseUpstreamUrlTest, HttpsWithDefaultPort) {
  auto p = url("https://api.openai.com");
  ASSERT_EQ(p.error, "");
  EXPECT_TRUE(p.u.https);
  EXPECT_EQ(p.u.host, "api.openai.com");
  EXPECT_EQ(p.u.port, 443);
  EXPECT_EQ(p.u.basePath, "");
  EXPECT_EQ(p.u.authority(), "api.openai.com");
}

TEST(ParseUpstreamUrlTest, HttpWithDefaultPort) {
  auto p = url("http://backend");
  ASSERT_EQ(p.error, "");
  EXPECT_FALSE(p.u.https);
  EXPECT_EQ(p.u.port, 80);
  EXPECT_EQ(p.u.authority(), "backend");
}

TEST(ParseUpstreamUrlTest, ExplicitPortAndBasePath) {
  auto p = url("http://10.0.0.7:8000/openai");
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.u.host, "10.0.0.7");
  EXPECT_EQ(p.u.port, 8000);
  EXPECT_EQ(p.u.basePath, "/openai");
  EXPECT_EQ(p.u.authority(), "10.0.0.7:8000");
}

TEST(ParseUpstreamUrlTest, BasePathTrailingSlashesAreStripped) {
  EXPECT_EQ(url("http://h/").u.basePath, "");
  EXPECT_EQ(url("http://h///").u.basePath, "");
  EXPECT_EQ(url("http://h/a/b/").u.basePath, "/a/b");
  EXPECT_EQ(url("http://h:81/v1//").u.basePath, "/v1");
}

TEST(ParseUpstreamUrlTest, Ipv6HostsKeepBracketsOnlyInAuthority) {
  auto p = url("http://[::1]:8080/base/");
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.u.host, "::1");
  EXPECT_EQ(p.u.port, 8080);
  EXPECT_EQ(p.u.basePath, "/base");
  EXPECT_EQ(p.u.authority(), "[::1]:8080");

  p = url("https://[2001:db8::1]");
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.u.host, "2001:db8::1");
  EXPECT_EQ(p.u.port, 443);
  EXPECT_EQ(p.u.authority(), "[2001:db8::1]");
}

TEST(ParseUpstreamUrlTest, NonDefaultPortForSchemeIsKeptInAuthority) {
  EXPECT_EQ(url("https://h:80").u.authority(), "h:80");
  EXPECT_EQ(url("http://h:443").u.authority(), "h:443");
  EXPECT_EQ(url("http://h:80").u.authority(), "h");
}

TEST(ParseUpstreamUrlTest, RejectsOtherSchemes) {
  for (const char* bad :
       {"ftp://h", "h:80", "//h", "HTTP://h", "ws://h", "", "http:/h", "https:h"}) {
    EXPECT_EQ(url(bad).error, "must start with http:// or https://") << "input: " << bad;
  }
}

TEST(ParseUpstreamUrlTest, RejectsQueryAndFragment) {
  for (const char* bad :
       {"http://h?x=1", "http://h/p?x=1", "http://h/p#frag", "http://h#f", "http://h:80/?"}) {
    EXPECT_EQ(url(bad).error, "must not contain a query or fragment") << "input: " << bad;
  }
}

TEST(ParseUpstreamUrlTest, RejectsCredentials) {
  EXPECT_EQ(url("https://user:pw@api.example.com").error,
            "must not contain credentials (use headers.set)");
  EXPECT_EQ(url("http://user@h/p").error, "must not contain credentials (use headers.set)");
}

TEST(ParseUpstreamUrlTest, RejectsMissingHost) {
  EXPECT_EQ(url("http://").error, "has no host");
  EXPECT_EQ(url("http:///path").error, "has no host");
}

TEST(ParseUpstreamUrlTest, RejectsBadPorts) {
  for (const char* bad : {"http://h:", "http://h:0", "http://h:65536", "http://h:port",
                          "http://[::1]:", "http://[::1", "http://::1/"}) {
    EXPECT_EQ(url(bad).error, "has an invalid host or port") << "input: " << bad;
  }
}

// Regression (was a bug in src/config/config.cc parseUpstreamUrl): the base path is copied into every upstream
// request line unchecked, so a space splits the request line and CR/LF injects header lines
// ("POST /x\r\nX-Injected: 1/v1/chat HTTP/1.1"). The loader rejects CR/LF in header values but
// not here. Fixed: rejected.
TEST(ParseUpstreamUrlTest, RejectsWhitespaceAndControlCharactersInBasePath) {
  for (const char* bad :
       {"http://h/a b", "http://h/x\r\nX-Injected: 1", "http://h/x\ty", "http://h/x\n"}) {
    EXPECT_NE(url(bad).error, "") << "accepted: " << ::testing::PrintToString(std::string(bad));
  }
}

TEST(DialectNameTest, NamesEveryDialect) {
  EXPECT_STREQ(dialectName(Dialect::OpenAI), "openai");
  EXPECT_STREQ(dialectName(Dialect::Anthropic), "anthropic");
  EXPECT_STREQ(dialectName(Dialect::Gemini), "gemini");
}

}  // namespace
}  // namespace tg::config
