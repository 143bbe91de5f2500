// The pure C++ around the Lua scripts (redis/scripts.h): hash tags and key names, argument
// encoding (normalised as store::paramsFor, clamped to kScriptMaxCount), reply decoding.
// The scripts themselves run against a real redis-server in tests/redis/scripts_test.cc.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
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

// The doubles of a batch's ARGV[2], as integers.
std::vector<int64_t> decode(const std::string& data) {
  std::vector<int64_t> out;
  for (size_t i = 0; i + sizeof(double) <= data.size(); i += sizeof(double)) {
    double d;
    std::memcpy(&d, data.data() + i, sizeof d);
    out.push_back(static_cast<int64_t>(d));
  }
  return out;
}

TEST(ScriptsHelpers, BatchArgumentsAreNormalisedClampedAndShared) {
  std::vector<BucketSpec> b = {spec("a", Algorithm::TokenBucket, uint64_t{1} << 63, -5, 7),
                               spec("b", Algorithm::Concurrency, 3, 0)};
  std::vector<std::string> keys = {"k1", "k2"};
  Batch batch;
  batch.addReserve(keys, b, std::vector<int64_t>{-4}, ReserveMode::CheckOnly);
  store::Reservation r;
  r.bucket = b[1];
  r.windowStart = tp(55);
  batch.addSettle(std::vector<std::string>{"k2", "k2"}, std::vector{r, r},
                  std::vector<int64_t>{INT64_MIN});
  BucketSpec edited = b[1];
  edited.limit = 9;  // the same key with another limit (a reload): a descriptor of its own
  batch.addReserve(std::vector<std::string>{"k2"}, std::vector{edited}, std::vector<int64_t>{2},
                   ReserveMode::Reserve);
  EXPECT_EQ(batch.ops(), 3u);
  EXPECT_EQ(batch.replyValues(), reserveReplySize(2) + reserveReplySize(1));
  EXPECT_EQ(batch.keys(), (std::vector<std::string>{"k1", "k2"}));
  const std::vector<std::string> argv = batch.argv(123);
  ASSERT_EQ(argv.size(), 2u);
  EXPECT_EQ(argv[0], "123");
  const int64_t max = int64_t{1} << 50;
  EXPECT_EQ(decode(argv[1]), (std::vector<int64_t>{
                                 3,                          // descriptors
                                 1, 2, max, 1, 7,            // k1: token bucket, clamped
                                 2, 3, 3, 0, 0,              // k2: concurrency
                                 2, 3, 9, 0, 0,              // k2 with limit 9
                                 1, 2, 1, 0, 2, 0,           // check-only: 2 buckets
                                 2, 2, 2, 55, -max, 2, 55, 0,  // settle: 2 reservations
                                 0, 1, 3, 2}));              // reserve: 1 bucket
  batch.clear();
  EXPECT_EQ(batch.ops(), 0u);
  EXPECT_TRUE(batch.keys().empty());
  EXPECT_EQ(decode(batch.argv(0)[1]), std::vector<int64_t>{0});

  std::vector<std::string> argvPeek;
  appendPeekArgs(b[0], 9, argvPeek);
  EXPECT_EQ(argvPeek, (std::vector<std::string>{"9", "2", "1125899906842624", "1"}));
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
