// The pure C++ around the Lua scripts (redis/scripts.h): hash tags and key names, argument
// encoding (normalised as store::paramsFor, clamped to kScriptMaxCount), reply decoding.
// The scripts themselves run against a real redis-server in tests/redis/scripts_test.cc.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "redis/scripts.h"
#include "store/algorithm.h"

namespace tg::redis {
namespace {

using std::chrono::milliseconds;
using store::Algorithm;
using store::BucketSpec;
using store::ReserveMode;
using store::ReserveResult;
using store::TimePoint;
using store::Verdict;

TimePoint tp(int64_t ms) { return TimePoint(milliseconds(ms)); }

BucketSpec spec(std::string key, Algorithm a, uint64_t limit, int64_t windowMs,
                int64_t penaltyMs = 0) {
  BucketSpec s;
  s.key = std::move(key);
  s.algorithm = a;
  s.limit = limit;
  s.window = milliseconds(windowMs);
  s.penalty = milliseconds(penaltyMs);
  return s;
}

TEST(ScriptsHelpers, HashTagsAndKeys) {
  EXPECT_EQ(hashTagOf("rule:consumer:alice"), "alice");
  EXPECT_EQ(hashTagOf("global"), "global");
  EXPECT_EQ(hashTagOf("rule:"), "");
  BucketSpec s = spec("tpm:consumer:alice", Algorithm::SlidingWindow, 10, 60'000);
  EXPECT_EQ(redisKeyFor("tg:", s), "tg:{alice}tpm:consumer:alice|sliding|60000");
  s.window = milliseconds(0);  // < 1 ms is 1 ms, as MemoryStore's identity
  EXPECT_EQ(redisKeyFor("tg:", s), "tg:{alice}tpm:consumer:alice|sliding|1");
  s.algorithm = Algorithm::Concurrency;  // 0 = no lease
  EXPECT_EQ(redisKeyFor("", s), "{alice}tpm:consumer:alice|concurrency|0");
}

TEST(ScriptsHelpers, ArgumentsAreNormalisedAndClamped) {
  std::vector<BucketSpec> b = {spec("a", Algorithm::TokenBucket, uint64_t{1} << 63, -5, 7),
                               spec("b", Algorithm::Concurrency, 3, 0)};
  std::vector<std::string> argv = {"EVALSHA", "sha", "2", "k1", "k2"};
  appendReserveArgs(b, std::vector<int64_t>{-4}, ReserveMode::CheckOnly, 123, argv);
  EXPECT_EQ(argv,
            (std::vector<std::string>{"EVALSHA", "sha", "2", "k1", "k2", "1", "123", "2",
                                      "1125899906842624", "1", "7", "0", "3", "3", "0", "0", "0"}));
  store::Reservation r;
  r.bucket = b[1];
  r.windowStart = tp(55);
  argv.clear();
  appendSettleArgs(std::vector{r, r}, std::vector<int64_t>{INT64_MIN}, 0, argv);
  EXPECT_EQ(argv, (std::vector<std::string>{"0", "3", "3", "0", "55", "-1125899906842624", "3", "3",
                                            "0", "55", "0"}));
  argv.clear();
  appendPeekArgs(b[0], 9, argv);
  EXPECT_EQ(argv, (std::vector<std::string>{"9", "2", "1125899906842624", "1"}));
}

TEST(ScriptsHelpers, ReplyParsing) {
  std::vector<BucketSpec> b = {spec("a", Algorithm::FixedWindow, 10, 1000),
                               spec("b", Algorithm::TokenBucket, 0, 1000)};
  std::vector<int64_t> v = {1, 1, -1, 5000, 0, 0, 5000, 10, 0, 0, 1, 0, 5000, -3, -1, -1};
  ReserveResult out;
  ASSERT_TRUE(parseReserveReply(v, b, out));
  EXPECT_EQ(out.verdict, Verdict::OverLimit);
  EXPECT_EQ(out.decisiveIndex, 1u);
  EXPECT_EQ(out.retryIn.count(), store::kNeverMs);
  ASSERT_EQ(out.reservations.size(), 2u);
  EXPECT_EQ(out.reservations[1].bucket.key, "b");
  EXPECT_EQ(out.reservations[1].state.remaining, -3);
  EXPECT_EQ(out.reservations[1].state.resetIn.count(), store::kNeverMs);
  EXPECT_EQ(out.reservations[0].state.limit, 10u);
  EXPECT_EQ(out.reservations[0].windowStart, tp(5000));
  v.pop_back();
  EXPECT_FALSE(parseReserveReply(v, b, out));  // short
  v.push_back(0);
  v[1] = 2;
  EXPECT_FALSE(parseReserveReply(v, b, out));  // decisive index out of range
  v[1] = 0;
  v[4] = 9;
  EXPECT_FALSE(parseReserveReply(v, b, out));  // no such verdict
  EXPECT_TRUE(parseReserveReply(std::vector<int64_t>{0, 0, 0, 1}, {}, out));
  EXPECT_TRUE(out.reservations.empty());
}

}  // namespace
}  // namespace tg::redis
