// http/headers.h: field lookup and the RFC 9110 hop-by-hop rules.

#include "http/headers.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace tg::http {
namespace {

TEST(FindHeaderTest, LooksUpNamesCaseInsensitively) {
  HeaderList h{{"Content-Type", "application/json"}, {"X-Request-Id", "abc"}};
  EXPECT_EQ(findHeader(h, "content-type"), "application/json");
  EXPECT_EQ(findHeader(h, "CONTENT-TYPE"), "application/json");
  EXPECT_EQ(findHeader(h, "x-request-id"), "abc");
  EXPECT_TRUE(hasHeader(h, "X-REQUEST-ID"));
}

TEST(FindHeaderTest, AbsentFieldIsEmpty) {
  HeaderList h{{"Content-Type", "text/plain"}};
  EXPECT_EQ(findHeader(h, "content-length"), "");
  EXPECT_FALSE(hasHeader(h, "content-length"));
  EXPECT_FALSE(hasHeader(h, "content-typ"));
  EXPECT_EQ(findHeader({}, "x"), "");
}

TEST(FindHeaderTest, ReturnsFirstOfRepeatedFields) {
  HeaderList h{{"Via", "1.1 a"}, {"via", "1.1 b"}};
  EXPECT_EQ(findHeader(h, "VIA"), "1.1 a");
}

TEST(FindHeaderTest, PresentButEmptyValueIsDistinguishedByHasHeader) {
  HeaderList h{{"X-Empty", ""}};
  EXPECT_EQ(findHeader(h, "x-empty"), "");
  EXPECT_TRUE(hasHeader(h, "x-empty"));
}

TEST(IsHopByHopTest, RecognisesEveryRfc9110Field) {
  for (const char* n :
       {"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding",
        "UPGRADE", "Proxy-Authenticate", "proxy-authorization"}) {
    EXPECT_TRUE(isHopByHop(n)) << n;
  }
}

TEST(IsHopByHopTest, EndToEndFieldsAreNotHopByHop) {
  for (const char* n : {"Content-Length", "Content-Type", "Authorization", "Host", "Trailers",
                        "TE2", "Connection-Id", "", "Keep-Alive-Extra"}) {
    EXPECT_FALSE(isHopByHop(n)) << n;
  }
}

TEST(HopByHopTest, AddsFieldsNamedInConnection) {
  HeaderList h{
      {"Connection", "keep-alive, X-Secret"}, {"connection", " x-other ,"}, {"X-Secret", "1"}};
  HopByHop hop(h);
  EXPECT_TRUE(hop.contains("x-secret"));
  EXPECT_TRUE(hop.contains("X-SECRET"));
  EXPECT_TRUE(hop.contains("X-Other"));
  EXPECT_TRUE(hop.contains("Transfer-Encoding"));
  EXPECT_TRUE(hop.contains("Connection"));
  EXPECT_FALSE(hop.contains("Content-Type"));
  EXPECT_FALSE(hop.contains("X-Secre"));
}

TEST(HopByHopTest, WithoutConnectionOnlyStandardFields) {
  HeaderList h{{"X-Secret", "close"}};
  HopByHop hop(h);
  EXPECT_FALSE(hop.contains("X-Secret"));
  EXPECT_FALSE(hop.contains("close"));
  EXPECT_TRUE(hop.contains("te"));
}

TEST(AppendFieldTest, WritesNameColonValueCrlf) {
  std::string out = "x";
  appendField(out, "Host", "example.com");
  appendField(out, "X-Empty", "");
  EXPECT_EQ(out, "xHost: example.com\r\nX-Empty: \r\n");
}

std::string chunkHeader(size_t n) {
  std::string s;
  appendChunkHeader(s, n);
  return s;
}

TEST(AppendChunkHeaderTest, WritesLowercaseHexSizeLine) {
  EXPECT_EQ(chunkHeader(0), "0\r\n");
  EXPECT_EQ(chunkHeader(1), "1\r\n");
  EXPECT_EQ(chunkHeader(10), "a\r\n");
  EXPECT_EQ(chunkHeader(15), "f\r\n");
  EXPECT_EQ(chunkHeader(16), "10\r\n");
  EXPECT_EQ(chunkHeader(255), "ff\r\n");
  EXPECT_EQ(chunkHeader(4096), "1000\r\n");
  EXPECT_EQ(chunkHeader(0x1a2b), "1a2b\r\n");
  EXPECT_EQ(chunkHeader(SIZE_MAX), std::string(sizeof(size_t) * 2, 'f') + "\r\n");
}

TEST(AppendChunkHeaderTest, AppendsToExistingContent) {
  std::string s = "abc\r\n";
  appendChunkHeader(s, 3);
  EXPECT_EQ(s, "abc\r\n3\r\n");
}

}  // namespace
}  // namespace tg::http

namespace tg::http {
namespace {

TEST(ClassifyFieldTest, EverySpecialNameInAnyCaseAndNothingElse) {
  const std::pair<std::string_view, Field> cases[] = {
      {"Host", Field::Host},
      {"CONTENT-LENGTH", Field::ContentLength},
      {"content-encoding", Field::ContentEncoding},
      {"Accept-Encoding", Field::AcceptEncoding},
      {"expect", Field::Expect},
      {"X-Request-Id", Field::XRequestId},
      {"x-forwarded-for", Field::XForwardedFor},
      {"X-Forwarded-Proto", Field::XForwardedProto},
      {"x-forwarded-host", Field::XForwardedHost},
      {"X-Real-IP", Field::XRealIp},
      {"Forwarded", Field::Forwarded},
      {"x-mse-consumer", Field::XMseConsumer},
      {"X-Tokengate-Anything", Field::XTokengate},
      {"x-tokengate-", Field::XTokengate},
      {"x-ratelimit-remaining-tokens", Field::XRatelimit},
      {"TE", Field::HopByHop},
      {"keep-alive", Field::HopByHop},
      {"Proxy-Authorization", Field::HopByHop},
      {"authorization", Field::Other},
      {"content-type", Field::Other},
      {"hosts", Field::Other},
      {"x-request-ids", Field::Other},
      {"", Field::Other},
  };
  for (const auto& [name, want] : cases) {
    EXPECT_EQ(classifyField(name), want) << name;
  }
}

}  // namespace
}  // namespace tg::http
