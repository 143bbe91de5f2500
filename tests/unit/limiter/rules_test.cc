// The request-path helpers of limiter/rules.h and policy.h: IP parsing and prefixes, client IP
// from X-Forwarded-For, query and cookie extraction, key-auth, key encoding, token amounts.

#include "limiter/rules.h"

#include <gtest/gtest.h>

#include <map>

#include "limiter/compile.h"
#include "limiter_test_support.h"

namespace tg::limiter {
namespace {

using testing::loadLimitsString;

std::string ipText(const std::optional<IpAddress>& ip) { return ip ? formatIp(*ip) : "none"; }

TEST(IpParsing, NormalisesMappedAndBrackets) {
  EXPECT_EQ(ipText(parseIp("1.2.3.4")), "1.2.3.4");
  EXPECT_EQ(ipText(parseIp("::ffff:1.2.3.4")), "1.2.3.4");
  EXPECT_EQ(ipText(parseIp("[2001:db8::1]")), "2001:db8::1");
  EXPECT_EQ(ipText(parseIp("2001:DB8:0::1")), "2001:db8::1");
  EXPECT_EQ(ipText(parseIp("1.2.3")), "none");
  EXPECT_EQ(ipText(parseIp("fe80::1%eth0")), "none");
  EXPECT_EQ(ipText(parseIp("")), "none");
  EXPECT_EQ(ipText(parseIp(" 1.2.3.4")), "none");
}

TEST(IpParsing, PrefixesContainAndMask) {
  auto p = parseIpPrefix("10.1.2.3/8");
  ASSERT_TRUE(p);
  EXPECT_EQ(formatIp(p->base), "10.0.0.0");
  EXPECT_TRUE(p->contains(*parseIp("10.255.0.1")));
  EXPECT_FALSE(p->contains(*parseIp("11.0.0.1")));
  EXPECT_FALSE(parseIpPrefix("0.0.0.0/0")->contains(*parseIp("::1")));
  EXPECT_TRUE(parseIpPrefix("::/0")->contains(*parseIp("::1")));
  EXPECT_TRUE(parseIpPrefix("1.2.3.4")->contains(*parseIp("::ffff:1.2.3.4")));
  auto mapped = parseIpPrefix("::ffff:10.0.0.0/104");
  ASSERT_TRUE(mapped);
  EXPECT_FALSE(mapped->base.v6);
  EXPECT_EQ(mapped->bits, 8);
  EXPECT_FALSE(parseIpPrefix("10.0.0.0/33"));
  EXPECT_FALSE(parseIpPrefix("10.0.0.0/"));
  EXPECT_FALSE(parseIpPrefix("10.0.0.0/x"));
  EXPECT_EQ(parseIpPrefix("2001:db8::/129"), std::nullopt);
}

TEST(ClientIp, PeerWithoutTrustedProxies) {
  EXPECT_EQ(ipText(clientIpFrom("9.9.9.9", "1.1.1.1", 0)), "9.9.9.9");
  EXPECT_EQ(ipText(clientIpFrom("::ffff:9.9.9.9", "", 2)), "9.9.9.9");
}

TEST(ClientIp, NthFromTheRightWithTrustedProxies) {
  // client -> proxy A (adds client) -> proxy B (adds A) -> gateway (peer = B)
  EXPECT_EQ(ipText(clientIpFrom("10.0.0.2", "6.6.6.6, 1.1.1.1, 10.0.0.1", 2)), "1.1.1.1");
  EXPECT_EQ(ipText(clientIpFrom("10.0.0.2", "6.6.6.6, 1.1.1.1, 10.0.0.1", 1)), "10.0.0.1");
  // A forged leftmost entry cannot be chosen; too few entries or garbage fall back to the peer.
  EXPECT_EQ(ipText(clientIpFrom("10.0.0.2", "1.1.1.1", 2)), "10.0.0.2");
  EXPECT_EQ(ipText(clientIpFrom("10.0.0.2", "junk, 10.0.0.1", 2)), "10.0.0.2");
  EXPECT_EQ(ipText(clientIpFrom("10.0.0.2", "[::ffff:1.1.1.1],10.0.0.1", 2)), "1.1.1.1");
}

TEST(QueryAndCookies, FirstValueDecoded) {
  EXPECT_EQ(queryParam("a=1&b=x+y%21&b=2", "b", true), "x y!");
  EXPECT_EQ(queryParam("a=1", "b", true), std::nullopt);
  EXPECT_EQ(queryParam("b", "b", true), "");
  EXPECT_EQ(queryParam("b=1&c=%zz", "b", true), std::nullopt);  // Go: whole query fails
  EXPECT_EQ(queryParam("b=1&c=%zz", "b", false), "1");
  EXPECT_EQ(queryParam("c=%zz&b=1", "b", false), "1");
  EXPECT_EQ(queryParam("b=1;c=2", "b", true), std::nullopt);
  EXPECT_EQ(queryParam("b=%4", "b", false), std::nullopt);
  EXPECT_EQ(cookieValue("a=1; b=2=3 ;c", "b"), "2=3");
  EXPECT_EQ(cookieValue("c; a=1", "c"), std::nullopt);
  EXPECT_EQ(cookieValue("", "a"), std::nullopt);
}

TEST(KeyEncoding, EscapesAndHashesValues) {
  EXPECT_EQ(encodeKeyPart("abc"), "vabc");
  EXPECT_EQ(encodeKeyPart("a:b%c d"), "va%3Ab%25c%20d");
  EXPECT_EQ(encodeKeyPart(""), "v");
  std::string longValue(65, 'x');
  std::string h = encodeKeyPart(longValue);
  EXPECT_EQ(h.rfind("v#", 0), 0u);
  EXPECT_EQ(h.size(), 2u + 32u);
  EXPECT_NE(encodeKeyPart(longValue + "y"), h);
  // '#' is escaped in raw values, so a value can never look like a hash.
  EXPECT_EQ(encodeKeyPart("#abc"), "v%23abc");
}

TEST(TokenAmount, QuantitiesAndWeights) {
  core::TokenUsage c{.inputTokens = 1000, .cachedInputTokens = 400, .outputTokens = 50};
  TokenWeights w{1.0, 0.1, 4.0};
  EXPECT_EQ(tokenAmount(Quantity::TotalTokens, c, w), 1050);
  EXPECT_EQ(tokenAmount(Quantity::InputTokens, c, w), 1000);
  EXPECT_EQ(tokenAmount(Quantity::OutputTokens, c, w), 50);
  EXPECT_EQ(tokenAmount(Quantity::WeightedTokens, c, w), 600 + 40 + 200);
  EXPECT_EQ(tokenAmount(Quantity::Requests, c, w), 1);
  EXPECT_EQ(tokenAmount(Quantity::Concurrent, c, w), 1);
  EXPECT_EQ(tokenAmount(Quantity::WeightedTokens, {10, 10, 0}, w), 1);  // 0.1*10 = 1, not 2
  EXPECT_EQ(tokenAmount(Quantity::WeightedTokens, {1, 1, 0}, w), 1);    // rounded up
  EXPECT_EQ(tokenAmount(Quantity::TotalTokens, {UINT64_MAX, 0, UINT64_MAX}, w), INT64_MAX);
  EXPECT_EQ(amountKindOf(Quantity::Requests), AmountKind::Requests);
  EXPECT_EQ(amountKindOf(Quantity::Concurrent), AmountKind::Concurrency);
  EXPECT_EQ(amountKindOf(Quantity::WeightedTokens), AmountKind::Tokens);
}

// ---- key-auth -----------------------------------------------------------------------------

struct Headers {
  std::map<std::string, std::string> h;
  std::function<std::optional<std::string_view>(std::string_view)> fn() const {
    return [this](std::string_view n) -> std::optional<std::string_view> {
      auto it = h.find(std::string(n));
      if (it == h.end()) return std::nullopt;
      return std::string_view(it->second);
    };
  }
};

TEST(KeyAuth, PlainAndSha256Keys) {
  // sha256("sk-bob") precomputed with `printf sk-bob | sha256sum`.
  auto res = loadLimitsString(R"(
rate_limits:
  key_sources: [bearer, x-api-key, {header: X-Gateway-Key}, {query: api_key}]
  consumers:
  - name: alice
    keys: [sk-alice, sk-alice-2]
    labels: {tier: gold}
  - name: bob
    keys: ["sha256:36c76b48bb2ee1d9d37140550e9d7ed7d395cf56f41050dc2a72e5291c0011f0"]
)");
  ASSERT_TRUE(res.policies) << (res.errors.empty() ? "" : res.errors[0].message);
  const auto& set = *res.policies;
  auto alice = findConsumerByKey(set.consumers, "sk-alice-2");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->consumer->name, "alice");
  EXPECT_EQ(alice->key->id, "alice#1");
  EXPECT_EQ(alice->consumer->label("tier"), "gold");
  EXPECT_FALSE(findConsumerByKey(set.consumers, "sk-alice-3"));
  EXPECT_FALSE(findConsumerByKey(set.consumers, ""));
  // The hashed key matches its preimage, not the digest text.
  EXPECT_EQ(findConsumerByKey(set.consumers, "sk-bob")->consumer->name, "bob");
  EXPECT_FALSE(findConsumerByKey(
      set.consumers, "36c76b48bb2ee1d9d37140550e9d7ed7d395cf56f41050dc2a72e5291c0011f0"));

  Headers h;
  h.h = {{"authorization", "bearer  sk-alice "}};
  EXPECT_EQ(presentedKey(set.keySources, h.fn(), ""), "sk-alice");
  h.h = {{"authorization", "Basic abc"}, {"x-api-key", "k2"}};
  EXPECT_EQ(presentedKey(set.keySources, h.fn(), ""), "k2");
  h.h = {{"x-gateway-key", "k3"}};
  EXPECT_EQ(presentedKey(set.keySources, h.fn(), "api_key=k4"), "k3");
  h.h = {};
  EXPECT_EQ(presentedKey(set.keySources, h.fn(), "api_key=k4"), "k4");
  EXPECT_EQ(presentedKey(set.keySources, h.fn(), ""), std::nullopt);
  // Default sources: bearer then x-api-key; no query.
  EXPECT_EQ(presentedKey({}, h.fn(), "api_key=k4"), std::nullopt);
}

TEST(KeyAuth, Sha256KeyFromConfigMatchesComputedDigest) {
  auto d = sha256Of("sk-bob");
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (uint8_t b : d) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  auto res = loadLimitsString(
      "rate_limits:\n  consumers:\n  - name: bob\n    keys: [\"sha256:" + hex + "\"]\n");
  ASSERT_TRUE(res.policies);
  EXPECT_TRUE(res.policies->consumers[0].keys[0].hashed);
  auto m = findConsumerByKey(res.policies->consumers, "sk-bob");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->consumer->name, "bob");
  EXPECT_EQ(m->key->id, "bob#0");
  EXPECT_FALSE(findConsumerByKey(res.policies->consumers, hex));
}

TEST(KeyAuth, ConfigErrors) {
  auto res = loadLimitsString(R"(
rate_limits:
  consumers:
  - name: a
    keys: ["sha256:xyz"]
  - name: b
    keys: [k]
  - name: c
    keys: [k]
)");
  ASSERT_EQ(res.errors.size(), 2u);
  EXPECT_EQ(res.errors[0].path, "rate_limits.consumers[0].keys[0]");
  EXPECT_EQ(res.errors[0].line, 5);
  EXPECT_NE(res.errors[1].message.find("also a key of 'b'"), std::string::npos);
}

}  // namespace
}  // namespace tg::limiter
