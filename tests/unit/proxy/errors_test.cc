// proxy/errors.h: the error bodies the gateway answers itself, in each provider's JSON shape.
// Bodies are checked with a real JSON parser (Boost.JSON, header-only here), so escaping
// mistakes show up as parse failures rather than string mismatches.

#include "proxy/errors.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <boost/json/src.hpp>  // header-only Boost.JSON: compiled into this test only
#include <string>

namespace tg::proxy {
namespace {

namespace json = boost::json;
using config::Dialect;

constexpr int kStatuses[] = {400, 401, 403, 404, 408, 413, 429, 431, 500, 502, 503, 504};
constexpr Dialect kDialects[] = {Dialect::OpenAI, Dialect::Anthropic, Dialect::Gemini};

json::value parse(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  EXPECT_FALSE(ec) << "invalid JSON (" << ec.message() << "): " << body;
  return v;
}

std::string str(const json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : "<not a string>";
}

TEST(ErrorBodyTest, OpenAiShape) {
  json::value v = parse(errorBody(Dialect::OpenAI, 429, "rate_limited", "slow down"));
  ASSERT_TRUE(v.is_object());
  const json::object& err = v.at("error").as_object();
  EXPECT_EQ(err.size(), 4u);
  EXPECT_EQ(str(err.at("message")), "slow down");
  EXPECT_EQ(str(err.at("type")), "rate_limit_error");
  EXPECT_TRUE(err.at("param").is_null());
  EXPECT_EQ(str(err.at("code")), "rate_limited");
}

TEST(ErrorBodyTest, AnthropicShape) {
  json::value v = parse(errorBody(Dialect::Anthropic, 404, "no_route", "no route"));
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(str(v.at("type")), "error");
  const json::object& err = v.at("error").as_object();
  EXPECT_EQ(str(err.at("type")), "not_found_error");
  EXPECT_EQ(str(err.at("message")), "no route");
}

TEST(ErrorBodyTest, GeminiShape) {
  json::value v = parse(errorBody(Dialect::Gemini, 504, "upstream_timeout", "too slow"));
  ASSERT_TRUE(v.is_object());
  const json::object& err = v.at("error").as_object();
  EXPECT_EQ(err.at("code").to_number<int>(), 504);
  EXPECT_EQ(str(err.at("message")), "too slow");
  EXPECT_EQ(str(err.at("status")), "DEADLINE_EXCEEDED");
}

TEST(ErrorBodyTest, EveryDialectAndStatusIsValidJson) {
  for (Dialect d : kDialects) {
    for (int status : kStatuses) {
      std::string body = errorBody(d, status, "some_code", "some message");
      json::value v = parse(body);
      EXPECT_TRUE(v.is_object()) << body;
      EXPECT_TRUE(v.as_object().contains("error")) << body;
    }
  }
}

TEST(ErrorBodyTest, TypesFollowEachProvider) {
  auto openai = [](int s) {
    return str(parse(errorBody(Dialect::OpenAI, s, "c", "m")).at("error").at("type"));
  };
  auto anthropic = [](int s) {
    return str(parse(errorBody(Dialect::Anthropic, s, "c", "m")).at("error").at("type"));
  };
  auto gemini = [](int s) {
    return str(parse(errorBody(Dialect::Gemini, s, "c", "m")).at("error").at("status"));
  };
  EXPECT_EQ(openai(400), "invalid_request_error");
  EXPECT_EQ(openai(401), "authentication_error");
  EXPECT_EQ(openai(404), "invalid_request_error");
  EXPECT_EQ(openai(413), "invalid_request_error");
  EXPECT_EQ(openai(429), "rate_limit_error");
  EXPECT_EQ(openai(502), "upstream_error");
  EXPECT_EQ(openai(504), "upstream_error");

  EXPECT_EQ(anthropic(400), "invalid_request_error");
  EXPECT_EQ(anthropic(401), "authentication_error");
  EXPECT_EQ(anthropic(403), "permission_error");
  EXPECT_EQ(anthropic(404), "not_found_error");
  EXPECT_EQ(anthropic(413), "request_too_large");
  EXPECT_EQ(anthropic(429), "rate_limit_error");
  EXPECT_EQ(anthropic(502), "api_error");
  EXPECT_EQ(anthropic(504), "api_error");

  EXPECT_EQ(gemini(400), "INVALID_ARGUMENT");
  EXPECT_EQ(gemini(401), "UNAUTHENTICATED");
  EXPECT_EQ(gemini(403), "PERMISSION_DENIED");
  EXPECT_EQ(gemini(404), "NOT_FOUND");
  EXPECT_EQ(gemini(408), "DEADLINE_EXCEEDED");
  EXPECT_EQ(gemini(413), "INVALID_ARGUMENT");
  EXPECT_EQ(gemini(429), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(gemini(500), "INTERNAL");
  EXPECT_EQ(gemini(502), "UNAVAILABLE");
  EXPECT_EQ(gemini(503), "UNAVAILABLE");
  EXPECT_EQ(gemini(504), "DEADLINE_EXCEEDED");
}

TEST(ErrorBodyTest, MessagesAreEscaped) {
  const std::string nasty = "say \"hi\"\nback\\slash\ttab\r\x01 end </script> \xC3\xA9";
  for (Dialect d : kDialects) {
    for (int status : {400, 404, 413, 429, 502, 504}) {
      std::string body = errorBody(d, status, "code", nasty);
      EXPECT_EQ(body.find('\n'), std::string::npos) << body;
      json::value v = parse(body);
      EXPECT_EQ(str(v.at("error").at("message")), nasty);
    }
  }
}

TEST(ErrorBodyTest, OpenAiCodeIsEscaped) {
  json::value v = parse(errorBody(Dialect::OpenAI, 400, "a\"b\nc", "m"));
  EXPECT_EQ(str(v.at("error").at("code")), "a\"b\nc");
}

TEST(ErrorResponseTest, CompleteHttpResponseWithJsonBody) {
  std::string r = errorResponse(Dialect::OpenAI, 413, "body_too_large", "too big", "req-1", true);
  size_t end = r.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  std::string head = r.substr(0, end + 2);
  std::string body = r.substr(end + 4);
  EXPECT_TRUE(head.starts_with("HTTP/1.1 413 Content Too Large\r\n")) << head;
  EXPECT_NE(head.find("Content-Type: application/json\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos)
      << head;
  EXPECT_NE(head.find("x-request-id: req-1\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Connection: close\r\n"), std::string::npos) << head;
  EXPECT_EQ(body, errorBody(Dialect::OpenAI, 413, "body_too_large", "too big"));
  parse(body);
}

TEST(ErrorResponseTest, KeepAliveAndNoRequestId) {
  std::string r = errorResponse(Dialect::Gemini, 404, "no_route", "nope", "", false);
  EXPECT_EQ(r.find("Connection:"), std::string::npos) << r;
  EXPECT_EQ(r.find("x-request-id"), std::string::npos) << r;
  EXPECT_TRUE(r.starts_with("HTTP/1.1 404 Not Found\r\n")) << r;
}

TEST(ReasonPhraseTest, KnownAndUnknownStatuses) {
  EXPECT_STREQ(reasonPhrase(200), "OK");
  EXPECT_STREQ(reasonPhrase(429), "Too Many Requests");
  EXPECT_STREQ(reasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_STREQ(reasonPhrase(502), "Bad Gateway");
  EXPECT_STREQ(reasonPhrase(504), "Gateway Timeout");
  EXPECT_STREQ(reasonPhrase(418), "Error");
}

}  // namespace
}  // namespace tg::proxy
