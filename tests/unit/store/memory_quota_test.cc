// MemoryQuotaStore: the QuotaStore contract of store/quota.h in process (inline, thread-safe).
#include "store/memory_quota.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace tg::store {
namespace {

// Every MemoryQuotaStore operation completes inline; `done` must never run.
std::function<void()> neverCalled() {
  return [] { ADD_FAILURE() << "done called by an inline store"; };
}

TEST(MemoryQuotaStore, NoQuotaMeansUnlimited) {
  MemoryQuotaStore qs;
  QuotaResult r;
  EXPECT_TRUE(qs.get("alice", r, neverCalled()));
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.remaining.has_value());
  EXPECT_TRUE(qs.check("alice", r, neverCalled()));
  EXPECT_TRUE(r.allowed);
  EXPECT_FALSE(r.remaining.has_value());
  EXPECT_TRUE(qs.decidesInline());
}

TEST(MemoryQuotaStore, ChargeNeverCreatesAQuota) {
  MemoryQuotaStore qs;
  qs.charge("alice", 500);
  QuotaResult r;
  qs.check("alice", r, neverCalled());
  EXPECT_TRUE(r.allowed);
  EXPECT_FALSE(r.remaining.has_value());
  EXPECT_EQ(qs.size(), 0u);
}

TEST(MemoryQuotaStore, SetGetIncreaseDecrease) {
  MemoryQuotaStore qs;
  QuotaResult r;
  qs.set("alice", 1000, r, neverCalled());
  EXPECT_EQ(r.remaining, 1000);
  qs.add("alice", 500, r, neverCalled());
  EXPECT_EQ(r.remaining, 1500);
  qs.add("alice", -200, r, neverCalled());
  EXPECT_EQ(r.remaining, 1300);
  qs.get("alice", r, neverCalled());
  EXPECT_EQ(r.remaining, 1300);
  qs.get("bob", r, neverCalled());
  EXPECT_FALSE(r.remaining.has_value());
}

TEST(MemoryQuotaStore, AddOnUnsetStartsFromZero) {
  MemoryQuotaStore qs;
  QuotaResult r;
  qs.add("alice", 700, r, neverCalled());
  EXPECT_EQ(r.remaining, 700);
  qs.add("bob", -5, r, neverCalled());
  EXPECT_EQ(r.remaining, -5);
  qs.check("bob", r, neverCalled());
  EXPECT_FALSE(r.allowed);
}

TEST(MemoryQuotaStore, AdmittedWhilePositiveThenChargedIntoDebt) {
  MemoryQuotaStore qs;
  QuotaResult r;
  qs.set("alice", 10, r, neverCalled());
  qs.check("alice", r, neverCalled());
  EXPECT_TRUE(r.allowed);  // 10 > 0: admitted, whatever the request will use
  qs.charge("alice", 300);
  qs.check("alice", r, neverCalled());
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.remaining, -290);
  qs.add("alice", 291, r, neverCalled());  // an operator tops up
  qs.check("alice", r, neverCalled());
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 1);
}

TEST(MemoryQuotaStore, ZeroIsBlocked) {
  MemoryQuotaStore qs;
  QuotaResult r;
  qs.set("alice", 0, r, neverCalled());
  qs.check("alice", r, neverCalled());
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.remaining, 0);
}

TEST(MemoryQuotaStore, NonPositiveChargeIsANoOp) {
  MemoryQuotaStore qs;
  QuotaResult r;
  qs.set("alice", 10, r, neverCalled());
  qs.charge("alice", 0);
  qs.charge("alice", -50);
  qs.get("alice", r, neverCalled());
  EXPECT_EQ(r.remaining, 10);
}

TEST(MemoryQuotaStore, RemoveMakesUnlimitedAgain) {
  MemoryQuotaStore qs;
  QuotaResult r;
  qs.set("alice", 0, r, neverCalled());
  qs.remove("alice", r, neverCalled());
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.remaining.has_value());
  qs.check("alice", r, neverCalled());
  EXPECT_TRUE(r.allowed);
  EXPECT_FALSE(r.remaining.has_value());
}

TEST(MemoryQuotaStore, OverflowIsRejectedAndChangesNothing) {
  MemoryQuotaStore qs;
  QuotaResult r;
  qs.set("alice", INT64_MAX - 1, r, neverCalled());
  qs.add("alice", 5, r, neverCalled());
  EXPECT_EQ(r.status, QuotaStatus::Invalid);
  EXPECT_FALSE(r.error.empty());
  qs.get("alice", r, neverCalled());
  EXPECT_EQ(r.remaining, INT64_MAX - 1);
  // A charge saturates instead of wrapping around to a huge positive quota.
  qs.set("bob", INT64_MIN + 1, r, neverCalled());
  qs.charge("bob", 10);
  qs.get("bob", r, neverCalled());
  EXPECT_EQ(r.remaining, INT64_MIN);
}

TEST(MemoryQuotaStore, ConcurrentChargesAreAllCounted) {
  MemoryQuotaStore qs;
  QuotaResult r;
  qs.set("alice", 1'000'000, r, neverCalled());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&qs] {
      for (int i = 0; i < 10'000; ++i) {
        qs.charge("alice", 3);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  qs.get("alice", r, neverCalled());
  EXPECT_EQ(r.remaining, 1'000'000 - 4 * 10'000 * 3);
}

TEST(MemoryQuotaStore, StatusNames) {
  EXPECT_STREQ(quotaStatusName(QuotaStatus::Ok), "ok");
  EXPECT_STREQ(quotaStatusName(QuotaStatus::Unavailable), "unavailable");
  EXPECT_STREQ(quotaStatusName(QuotaStatus::Invalid), "invalid");
}

}  // namespace
}  // namespace tg::store
