// BucketTable: probing, backward-shift deletion, growth, the entry bound and expiry sweeps.
#include "store/bucket_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <utility>

namespace tg::store {
namespace {

BucketId idOf(uint64_t n) { return BucketId{n * 0x9E3779B97F4A7C15ULL + 7, n}; }

// Ids that all want slot 0 (lo % capacity == 0): one long probe run.
BucketId colliding(uint64_t n) { return BucketId{n + 1, n << 20}; }

Entry* insert(BucketTable& t, const BucketId& id, int64_t expiresAt, int64_t nowMs = 0) {
  t.prepare(1, nowMs);
  bool inserted = false;
  Entry* e = t.findOrInsert(id, &inserted);
  if (e != nullptr) {
    e->expiresAtMs = expiresAt;
    t.noteExpiry(expiresAt);
  }
  return e;
}

TEST(BucketTable, AllocatesNothingUntilTheFirstInsert) {
  BucketTable t(1000);
  EXPECT_EQ(t.capacity(), 0u);
  EXPECT_EQ(t.bytes(), 0u);
  EXPECT_EQ(t.find(idOf(1)), nullptr);
  bool inserted = true;
  EXPECT_EQ(t.findOrInsert(idOf(1), &inserted), nullptr);  // not prepared
  EXPECT_FALSE(inserted);
}

TEST(BucketTable, FindsWhatItInserted) {
  BucketTable t(10'000);
  for (uint64_t i = 1; i <= 5'000; ++i) {
    Entry* e = insert(t, idOf(i), 100);
    ASSERT_NE(e, nullptr);
    e->counters.current = static_cast<int64_t>(i);
  }
  EXPECT_EQ(t.size(), 5'000u);
  EXPECT_LE(t.size(), t.capacity() / 4 * 3);
  for (uint64_t i = 1; i <= 5'000; ++i) {
    Entry* e = t.find(idOf(i));
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->counters.current, static_cast<int64_t>(i));
  }
  EXPECT_EQ(t.find(idOf(5'001)), nullptr);
  bool inserted = true;
  EXPECT_EQ(t.findOrInsert(idOf(7), &inserted)->counters.current, 7);
  EXPECT_FALSE(inserted);
}

TEST(BucketTable, CapacityIsBoundedByMaxEntries) {
  BucketTable t(100);
  for (uint64_t i = 1; i <= 100; ++i) {
    ASSERT_NE(insert(t, idOf(i), 1'000), nullptr) << i;
  }
  EXPECT_EQ(insert(t, idOf(101), 1'000), nullptr);
  EXPECT_EQ(t.size(), 100u);
  EXPECT_EQ(t.capacity(), 256u);  // smallest power of two holding 100 at load <= 3/4
  EXPECT_NE(t.find(idOf(50)), nullptr);
}

TEST(BucketTable, FullTableReclaimsExpiredEntriesOnlyWhenSomeMayHaveExpired) {
  BucketTable t(4);
  for (uint64_t i = 1; i <= 4; ++i) {
    ASSERT_NE(insert(t, idOf(i), 100 + static_cast<int64_t>(i)), nullptr);
  }
  EXPECT_EQ(t.prepare(1, 100), 0u);  // nothing expires before 101
  bool inserted = false;
  EXPECT_EQ(t.findOrInsert(idOf(9), &inserted), nullptr);
  EXPECT_EQ(t.prepare(1, 102), 2u);  // entries 1 and 2 (<= 102)
  EXPECT_EQ(t.size(), 2u);
  EXPECT_NE(t.findOrInsert(idOf(9), &inserted), nullptr);
  EXPECT_TRUE(inserted);
  EXPECT_EQ(t.find(idOf(1)), nullptr);
  EXPECT_NE(t.find(idOf(3)), nullptr);
  EXPECT_NE(t.find(idOf(4)), nullptr);
}

TEST(BucketTable, SweepRemovesExpiredEntriesInALongProbeRun) {
  BucketTable t(64);
  for (uint64_t i = 0; i < 40; ++i) {
    ASSERT_NE(insert(t, colliding(i), i % 2 == 0 ? 10 : 1'000), nullptr);
  }
  size_t removed = 0;
  for (int round = 0; round < 10; ++round) {
    removed += t.sweep(10, 8);
  }
  EXPECT_EQ(removed, 20u);
  for (uint64_t i = 0; i < 40; ++i) {
    EXPECT_EQ(t.find(colliding(i)) != nullptr, i % 2 == 1) << i;
  }
}

TEST(BucketTable, RandomOperationsMatchAReferenceMap) {
  // Inserts, lookups and expiry-driven removals (sweep and prepare) against std::map, with
  // small ids so that probe runs wrap around the end of the array.
  std::mt19937_64 rng(42);
  BucketTable t(300);
  std::map<std::pair<uint64_t, uint64_t>, int64_t> ref;  // id -> expiresAt
  int64_t now = 0;
  for (int step = 0; step < 200'000; ++step) {
    now += static_cast<int64_t>(rng() % 3);
    const uint64_t n = rng() % 600;
    const BucketId id{n + 1, n * 37};
    const int op = static_cast<int>(rng() % 10);
    if (op < 6) {
      t.prepare(1, now);
      // prepare may have swept expired entries: mirror that.
      for (auto it = ref.begin(); it != ref.end();) {
        if (t.find(BucketId{it->first.first, it->first.second}) == nullptr) {
          ASSERT_LE(it->second, now);
          it = ref.erase(it);
        } else {
          ++it;
        }
      }
      bool inserted = false;
      Entry* e = t.findOrInsert(id, &inserted);
      if (e == nullptr) {
        ASSERT_EQ(ref.size(), 300u);
        continue;
      }
      ASSERT_EQ(inserted, ref.count({id.hi, id.lo}) == 0);
      e->expiresAtMs = now + static_cast<int64_t>(rng() % 50);
      t.noteExpiry(e->expiresAtMs);
      ref[{id.hi, id.lo}] = e->expiresAtMs;
    } else if (op < 9) {
      Entry* e = t.find(id);
      auto it = ref.find({id.hi, id.lo});
      ASSERT_EQ(e != nullptr, it != ref.end());
      if (e != nullptr) {
        ASSERT_EQ(e->expiresAtMs, it->second);
      }
    } else {
      size_t removed = t.sweep(now, 16);
      size_t mirrored = 0;
      for (auto it = ref.begin(); it != ref.end();) {
        if (t.find(BucketId{it->first.first, it->first.second}) == nullptr) {
          ASSERT_LE(it->second, now);  // only expired entries go
          it = ref.erase(it);
          ++mirrored;
        } else {
          ++it;
        }
      }
      ASSERT_EQ(removed, mirrored);
    }
    ASSERT_EQ(t.size(), ref.size());
  }
}

}  // namespace
}  // namespace tg::store
