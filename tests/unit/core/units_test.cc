// core/units.h: durations and sizes as written in config files.

#include "core/units.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>

namespace tg::core {
namespace {

using std::chrono::milliseconds;

std::optional<long long> ms(std::string_view s) {
  auto d = parseDuration(s);
  return d ? std::optional<long long>(d->count()) : std::nullopt;
}

TEST(ParseDurationTest, AcceptsEveryDocumentedUnit) {
  EXPECT_EQ(ms("250ms"), 250);
  EXPECT_EQ(ms("10s"), 10'000);
  EXPECT_EQ(ms("5m"), 300'000);
  EXPECT_EQ(ms("1h"), 3'600'000);
  EXPECT_EQ(ms("1d"), 86'400'000);
}

TEST(ParseDurationTest, BareNumberMeansSeconds) {
  EXPECT_EQ(ms("30"), 30'000);
  EXPECT_EQ(ms("0"), 0);
}

TEST(ParseDurationTest, AcceptsFractionsAndTruncatesToMilliseconds) {
  EXPECT_EQ(ms("1.5s"), 1'500);
  EXPECT_EQ(ms("0.25m"), 15'000);
  EXPECT_EQ(ms(".5s"), 500);
  EXPECT_EQ(ms("2.9ms"), 2);
  EXPECT_EQ(ms("0.4ms"), 0);
}

TEST(ParseDurationTest, ToleratesSurroundingAndInnerOws) {
  EXPECT_EQ(ms("  10s "), 10'000);
  EXPECT_EQ(ms("10 s"), 10'000);
  EXPECT_EQ(ms("\t250\tms"), 250);
}

TEST(ParseDurationTest, RejectsJunk) {
  for (const char* bad : {"", " ", "s", "ms", "-1s", "+1s", "1x", "1sec", "10S", "1MS", "1e3",
                          "1.2.3s", ".", "..5s", "1s2", "1 s s", "abc", "1,5s", "0x10"}) {
    EXPECT_EQ(parseDuration(bad), std::nullopt) << "input: '" << bad << "'";
  }
}

TEST(ParseDurationTest, RejectsOverflow) {
  EXPECT_EQ(parseDuration("99999999999999999999999d"), std::nullopt);
  EXPECT_EQ(parseDuration("1000000000000000000000000"), std::nullopt);
  // The limit is 1e15 ms (about 31,700 years): just below and just above.
  EXPECT_EQ(ms("1000000000000000ms"), 1'000'000'000'000'000LL);
  EXPECT_EQ(parseDuration("1000000000000001ms"), std::nullopt);
}

std::optional<uint64_t> bytes(std::string_view s) { return parseSize(s); }

TEST(ParseSizeTest, AcceptsBinaryAndDecimalUnits) {
  EXPECT_EQ(bytes("512"), 512u);
  EXPECT_EQ(bytes("512b"), 512u);
  EXPECT_EQ(bytes("512B"), 512u);
  EXPECT_EQ(bytes("64KiB"), 64u * 1024);
  EXPECT_EQ(bytes("64K"), 64u * 1024);
  EXPECT_EQ(bytes("64k"), 64u * 1024);
  EXPECT_EQ(bytes("8MiB"), 8u * 1024 * 1024);
  EXPECT_EQ(bytes("8M"), 8u * 1024 * 1024);
  EXPECT_EQ(bytes("1GiB"), 1024ull * 1024 * 1024);
  EXPECT_EQ(bytes("1G"), 1024ull * 1024 * 1024);
  EXPECT_EQ(bytes("2KB"), 2'000u);
  EXPECT_EQ(bytes("3MB"), 3'000'000u);
  EXPECT_EQ(bytes("4GB"), 4'000'000'000ull);
}

TEST(ParseSizeTest, AcceptsFractionsAndWhitespace) {
  EXPECT_EQ(bytes("1.5KiB"), 1536u);
  EXPECT_EQ(bytes(" 2 MiB "), 2u * 1024 * 1024);
  EXPECT_EQ(bytes("0"), 0u);
}

TEST(ParseSizeTest, RejectsJunkAndUnknownUnits) {
  for (const char* bad : {"", "KiB", "-1", "+1", "1TiB", "1kib", "1mib", "1kB", "1 KiB B", "1e6",
                          "1.2.3", "ten", "0x10", "1_000"}) {
    EXPECT_EQ(parseSize(bad), std::nullopt) << "input: '" << bad << "'";
  }
}

TEST(ParseSizeTest, RejectsValuesBeyondInt64) {
  EXPECT_EQ(parseSize("9223372036854775808000"), std::nullopt);
  EXPECT_EQ(parseSize("100000000000GiB"), std::nullopt);
  EXPECT_EQ(bytes("8589934591GiB"), 8589934591ull * 1024 * 1024 * 1024);  // < 2^63
}

}  // namespace
}  // namespace tg::core
