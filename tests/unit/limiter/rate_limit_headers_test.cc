// Rate-limit response headers: OpenAI's x-ratelimit-* set, retry-after(-ms), x-should-retry and
// Higress's X-TokenRateLimit-Reset.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "limiter/headers.h"

namespace tg::limiter {
namespace {

using std::chrono::milliseconds;
using store::BucketState;
using store::Verdict;

BucketState state(uint64_t limit, int64_t remaining, int64_t resetMs, Verdict v = Verdict::Admitted,
                  int64_t retryMs = 0) {
  BucketState s;
  s.verdict = v;
  s.limit = limit;
  s.remaining = remaining;
  s.resetIn = milliseconds(resetMs);
  s.retryIn = milliseconds(retryMs);
  return s;
}

TEST(RateLimitHeaders, GoDurationsAsOpenAISendsThem) {
  EXPECT_EQ(formatGoDuration(milliseconds(0)), "0s");
  EXPECT_EQ(formatGoDuration(milliseconds(-5)), "0s");
  EXPECT_EQ(formatGoDuration(milliseconds(1)), "1ms");
  EXPECT_EQ(formatGoDuration(milliseconds(9)), "9ms");
  EXPECT_EQ(formatGoDuration(milliseconds(20)), "20ms");
  EXPECT_EQ(formatGoDuration(milliseconds(999)), "999ms");
  EXPECT_EQ(formatGoDuration(milliseconds(1'000)), "1s");
  EXPECT_EQ(formatGoDuration(milliseconds(1'500)), "1.5s");
  EXPECT_EQ(formatGoDuration(milliseconds(1'250)), "1.25s");
  EXPECT_EQ(formatGoDuration(milliseconds(17'281)), "17.281s");
  EXPECT_EQ(formatGoDuration(milliseconds(60'000)), "1m0s");
  EXPECT_EQ(formatGoDuration(milliseconds(360'000)), "6m0s");
  EXPECT_EQ(formatGoDuration(milliseconds(61'500)), "1m1.5s");
  EXPECT_EQ(formatGoDuration(milliseconds(3'600'000)), "1h0m0s");
  EXPECT_EQ(formatGoDuration(milliseconds(3'723'000)), "1h2m3s");
  EXPECT_EQ(formatGoDuration(milliseconds(86'400'000)), "24h0m0s");
  EXPECT_EQ(formatGoDuration(milliseconds(3'600'010)), "1h0m0.01s");
}

TEST(RateLimitHeaders, QuotaHeadersNeverShowANegativeRemaining) {
  std::string out;
  appendQuotaHeaders(state(150'000, 149'984, 360'000), "tokens", out);
  EXPECT_EQ(out,
            "x-ratelimit-limit-tokens: 150000\r\n"
            "x-ratelimit-remaining-tokens: 149984\r\n"
            "x-ratelimit-reset-tokens: 6m0s\r\n");
  out.clear();
  appendQuotaHeaders(state(100, -40, 20), "tokens", out);
  EXPECT_EQ(out,
            "x-ratelimit-limit-tokens: 100\r\n"
            "x-ratelimit-remaining-tokens: 0\r\n"
            "x-ratelimit-reset-tokens: 20ms\r\n");
  out.clear();
  appendQuotaHeaders(state(60, 59, 1'000), "requests", out);
  EXPECT_EQ(out,
            "x-ratelimit-limit-requests: 60\r\n"
            "x-ratelimit-remaining-requests: 59\r\n"
            "x-ratelimit-reset-requests: 1s\r\n");
}

TEST(RateLimitHeaders, ShortWaitsGiveSecondsRoundedUpAndMilliseconds) {
  std::string out;
  appendRetryHeaders(milliseconds(644), true, out);
  EXPECT_EQ(out,
            "retry-after: 1\r\n"
            "retry-after-ms: 644\r\n"
            "X-TokenRateLimit-Reset: 1\r\n");
  out.clear();
  appendRetryHeaders(milliseconds(6'001), true, out);
  EXPECT_EQ(out,
            "retry-after: 7\r\n"
            "retry-after-ms: 6001\r\n"
            "X-TokenRateLimit-Reset: 7\r\n");
  RetryHeaderValues exact = retryHeaderValues(milliseconds(60'000), true);
  EXPECT_EQ(exact.retryAfterSeconds, 60u);
  EXPECT_EQ(exact.retryAfterMs, 60'000u);
  EXPECT_FALSE(exact.shouldRetryFalse);
}

TEST(RateLimitHeaders, LongWaitsTellSdksNotToRetry) {
  RetryHeaderValues v = retryHeaderValues(milliseconds(60'001), true);
  EXPECT_EQ(v.retryAfterSeconds, 61u);  // the true wait, for non-SDK clients
  EXPECT_FALSE(v.retryAfterMs.has_value());
  EXPECT_TRUE(v.shouldRetryFalse);
  EXPECT_EQ(v.higressResetSeconds, 61u);
  std::string out;
  appendRetryHeaders(std::chrono::hours(1), true, out);
  EXPECT_EQ(out,
            "retry-after: 3600\r\n"
            "x-should-retry: false\r\n"
            "X-TokenRateLimit-Reset: 3600\r\n");
}

TEST(RateLimitHeaders, TooLargeIsNotRetryable) {
  std::string out;
  appendRetryHeaders(milliseconds(0), false, out);
  EXPECT_EQ(out, "x-should-retry: false\r\n");
  RetryHeaderValues v = retryHeaderValues(milliseconds(5'000), false);
  EXPECT_FALSE(v.retryAfterSeconds.has_value());
  EXPECT_FALSE(v.higressResetSeconds.has_value());
}

TEST(RateLimitHeaders, UnknownWaitIsOneSecond) {
  RetryHeaderValues v = retryHeaderValues(milliseconds(0), true);
  EXPECT_EQ(v.retryAfterSeconds, 1u);
  EXPECT_EQ(v.retryAfterMs, 1'000u);
  EXPECT_FALSE(v.shouldRetryFalse);
}

TEST(RateLimitHeaders, MostConstrainedBucket) {
  EXPECT_EQ(mostConstrained({}), std::nullopt);
  // Admitted: the least remaining, ties to the longer reset.
  std::vector<BucketState> ok{state(1'000, 500, 10), state(100'000, 90, 20), state(200, 90, 5'000)};
  EXPECT_EQ(mostConstrained(ok), 2u);
  // Rejected: among the rejecting buckets, the one the caller waits longest for.
  std::vector<BucketState> rejected{state(100, 0, 100, Verdict::OverLimit, 100),
                                    state(50, -10, 1'000),
                                    state(1'000, 3, 60'000, Verdict::OverLimit, 30'000),
                                    state(10, 0, 9'000, Verdict::Blocked, 9'000)};
  EXPECT_EQ(mostConstrained(rejected), 2u);
}

}  // namespace
}  // namespace tg::limiter
