// The access-log line format: every documented field, JSON escaping, and credentials in the
// query string redacted.
#include "proxy/access_log.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/src.hpp>  // header-only Boost.JSON, for checking the line is valid JSON

namespace tg::proxy {
namespace {

AccessRecord sample() {
  AccessRecord r;
  r.start = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
  r.requestId = "abc";
  r.client = "127.0.0.1";
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.route = "openai";
  r.upstream = "sim";
  r.status = 200;
  r.bytesIn = 10;
  r.bytesOut = 20;
  r.durationMs = 1.5;
  return r;
}

TEST(AccessLogTest, LineIsJsonWithEveryField) {
  std::string line;
  formatAccessRecord(line, sample());
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  auto v = boost::json::parse(line).as_object();
  EXPECT_EQ(v["time"].as_string(), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(v["request_id"].as_string(), "abc");
  EXPECT_EQ(v["status"].as_int64(), 200);
  EXPECT_EQ(v["bytes_in"].as_int64(), 10);
  EXPECT_EQ(v["bytes_out"].as_int64(), 20);
  EXPECT_DOUBLE_EQ(v["duration_ms"].as_double(), 1.5);
  EXPECT_TRUE(v["upstream_first_byte_ms"].is_null());
  EXPECT_FALSE(v.contains("error"));
}

TEST(AccessLogTest, EscapesControlCharactersAndQuotes) {
  AccessRecord r = sample();
  r.path = "/a\"b\\c\n\x01";
  std::string line;
  formatAccessRecord(line, r);
  auto v = boost::json::parse(line).as_object();
  EXPECT_EQ(v["path"].as_string(), "/a\"b\\c\n\x01");
}

TEST(AccessLogTest, RedactsCredentialsInTheQuery) {
  AccessRecord r = sample();
  r.path = "/v1beta/models/gemini-pro:generateContent?alt=sse&key=AIzaSECRET&x=1&API_KEY=s2";
  std::string line;
  formatAccessRecord(line, r);
  EXPECT_EQ(line.find("SECRET"), std::string::npos);
  EXPECT_EQ(line.find("s2"), std::string::npos);
  auto v = boost::json::parse(line).as_object();
  EXPECT_EQ(v["path"].as_string(),
            "/v1beta/models/gemini-pro:generateContent?alt=sse&key=REDACTED&x=1&API_KEY=REDACTED");
}

TEST(AccessLogTest, OptionalFieldsAppearWhenSet) {
  AccessRecord r = sample();
  r.upstreamFirstByteMs = 0.25;
  r.upstreamRequestId = "req_1";
  r.error = "client_gone";
  std::string line;
  formatAccessRecord(line, r);
  auto v = boost::json::parse(line).as_object();
  EXPECT_DOUBLE_EQ(v["upstream_first_byte_ms"].as_double(), 0.25);
  EXPECT_EQ(v["upstream_request_id"].as_string(), "req_1");
  EXPECT_EQ(v["error"].as_string(), "client_gone");
}

// Durations are written with exactly three decimals, rounded to the microsecond.
TEST(AccessLogTest, DurationsHaveThreeDecimals) {
  for (auto [ms, text] : std::initializer_list<std::pair<double, std::string_view>>{
           {1.5, "\"duration_ms\":1.500,"},
           {0.0004, "\"duration_ms\":0.000,"},
           {0.0006, "\"duration_ms\":0.001,"},
           {12.3456, "\"duration_ms\":12.346,"},
           {123456.7, "\"duration_ms\":123456.700,"}}) {
    AccessRecord r = sample();
    r.durationMs = ms;
    r.upstreamFirstByteMs = 0.25;
    std::string line;
    formatAccessRecord(line, r);
    EXPECT_NE(line.find(text), std::string::npos) << line;
    EXPECT_NE(line.find("\"upstream_first_byte_ms\":0.250"), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace tg::proxy
