// SipHash-2-4-128 against the reference vectors (veorq/SipHash vectors.h, vectors_sip128:
// key 00..0f, message 00..len-1), and the bucket identity built on it.
#include "store/key_hash.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>
#include <utility>

namespace tg::store {
namespace {

std::string hex(const BucketId& id) {
  std::string s;
  char buf[3];
  for (uint64_t word : {id.lo, id.hi}) {
    for (int i = 0; i < 8; ++i) {
      std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>((word >> (8 * i)) & 0xff));
      s += buf;
    }
  }
  return s;
}

HashKey referenceKey() {
  HashKey k;
  for (int i = 0; i < 8; ++i) {
    k.k0 |= static_cast<uint64_t>(i) << (8 * i);
    k.k1 |= static_cast<uint64_t>(i + 8) << (8 * i);
  }
  return k;
}

std::string message(size_t len) {
  std::string m;
  for (size_t i = 0; i < len; ++i) {
    m.push_back(static_cast<char>(i));
  }
  return m;
}

TEST(KeyHash, MatchesSipHash128ReferenceVectors) {
  const std::pair<size_t, const char*> vectors[] = {
      {0, "a3817f04ba25a8e66df67214c7550293"},  {1, "da87c1d86b99af44347659119b22fc45"},
      {7, "a1f1ebbed8dbc153c0b84aa61ff08239"},  {8, "3b62a9ba6258f5610f83e264f31497b4"},
      {9, "264499060ad9baabc47f8b02bb6d71ed"},  {15, "5493e99933b0a8117e08ec0f97cfc3d9"},
      {16, "6ee2a4ca67b054bbfd3315bf85230577"}, {31, "2939b0183223fafc1723de4f52c43d35"},
      {63, "5150d1772f50834a503e069a973fbd7c"},
  };
  for (const auto& [len, expected] : vectors) {
    EXPECT_EQ(hex(sipHash128(referenceKey(), message(len))), expected) << "len " << len;
  }
}

TEST(KeyHash, BucketIdCoversKeyAlgorithmAndWindow) {
  const HashKey k = referenceKey();
  const BucketId base = bucketIdFor(k, "consumer:alice", Algorithm::FixedWindow, 60'000);
  EXPECT_EQ(base, bucketIdFor(k, "consumer:alice", Algorithm::FixedWindow, 60'000));
  EXPECT_NE(base, bucketIdFor(k, "consumer:alicf", Algorithm::FixedWindow, 60'000));
  EXPECT_NE(base, bucketIdFor(k, "consumer:alice", Algorithm::SlidingWindow, 60'000));
  EXPECT_NE(base, bucketIdFor(k, "consumer:alice", Algorithm::FixedWindow, 3'600'000));
  // It is the SipHash of key || window (8 bytes LE) || algorithm: pieces streamed across
  // block boundaries give the one-shot result.
  std::string joined = "consumer:alice";
  const uint64_t w = 60'000;
  joined.append(reinterpret_cast<const char*>(&w), 8);
  joined.push_back(static_cast<char>(Algorithm::FixedWindow));
  EXPECT_EQ(base, sipHash128(k, joined));
}

TEST(KeyHash, DifferentSecretsGiveDifferentIds) {
  HashKey a{1, 2};
  HashKey b{1, 3};
  EXPECT_NE(bucketIdFor(a, "k", Algorithm::FixedWindow, 1),
            bucketIdFor(b, "k", Algorithm::FixedWindow, 1));
  HashKey r1 = randomHashKey();
  HashKey r2 = randomHashKey();
  EXPECT_FALSE(r1.k0 == r2.k0 && r1.k1 == r2.k1);
}

TEST(KeyHash, NoCollisionsAmongManySimilarKeys) {
  const HashKey k = referenceKey();
  std::set<std::pair<uint64_t, uint64_t>> seen;
  for (int i = 0; i < 100'000; ++i) {
    BucketId id = bucketIdFor(k, "ip:10.0." + std::to_string(i), Algorithm::TokenBucket, 1'000);
    EXPECT_FALSE(id.hi == 0 && id.lo == 0);
    seen.insert({id.hi, id.lo});
  }
  EXPECT_EQ(seen.size(), 100'000u);
}

}  // namespace
}  // namespace tg::store
