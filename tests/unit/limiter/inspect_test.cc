// limiter/inspect.h over a MemoryStore: the buckets a consumer's requests touch (every route or
// one, a policy / rule filter, deduplicated), their state after real reservations, a reset,
// and an unknown consumer.
#include "limiter/inspect.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "limiter_test_support.h"
#include "store/memory_store.h"

namespace tg::limiter {
namespace {

const char* kLimits = R"(
rate_limits:
  consumers:
  - name: alice
    keys: ["sk-alice"]
  - name: bob
    keys: ["sk-bob"]
  policies:
  - name: per-consumer
    rules:
    - name: tokens
      by: per_consumer
      limits: [{tokens: 1000, per: minute}, {requests: 10, per: minute}]
  - name: chat-only
    routes: [chat]
    rules:
    - name: chat-global
      by: global
      limits: [{tokens: 5000, per: hour}]
)";

const std::function<void()> kNever = [] { ADD_FAILURE() << "done called by an inline store"; };

class InspectTest : public ::testing::Test {
 protected:
  store::TimePoint now() const { return std::chrono::system_clock::now(); }
  Inspection run(BucketQuery q, std::vector<std::string> routes,
                 InspectAction action = InspectAction::Peek) {
    Inspection out;
    EXPECT_TRUE(inspectBuckets(set, q, routes, store, action, now(), out, kNever));
    return out;
  }
  // Reserves `tokens` (and a request) in every bucket alice touches on `route`.
  void use(const std::string& route, int64_t tokens) {
    Inspection in;
    ASSERT_TRUE(listBuckets(set, {"alice", "", "", ""}, std::vector<std::string>{route}, now(), in));
    std::vector<store::BucketSpec> specs;
    std::vector<int64_t> amounts;
    for (const InspectedBucket& b : in.buckets) {
      specs.push_back(b.spec);
      amounts.push_back(b.quantity == Quantity::Requests ? 1 : tokens);
    }
    ASSERT_TRUE(store.reserve(specs, amounts, store::ReserveMode::Reserve, now()).admitted());
  }

  PolicySet set = testing::loadPolicies(kLimits);
  store::MemoryStore store;
};

TEST_F(InspectTest, ListsTheBucketsOfEveryRouteOnceWithTheirState) {
  use("chat", 300);
  Inspection in = run({"alice", "", "", ""}, {"chat", "embeddings"});
  ASSERT_TRUE(in.ok()) << in.error;
  ASSERT_EQ(in.buckets.size(), 3u);  // two per-consumer limits (both routes: once) + chat-global
  ASSERT_EQ(in.states.size(), 3u);
  EXPECT_EQ(in.buckets[0].policy, "per-consumer");
  EXPECT_EQ(in.buckets[0].rule, "tokens");
  EXPECT_EQ(in.buckets[2].policy, "chat-only");
  EXPECT_EQ(in.buckets[2].rule, "chat-global");
  for (size_t i = 0; i < in.buckets.size(); ++i) {
    const bool requests = in.buckets[i].quantity == Quantity::Requests;
    EXPECT_EQ(in.states[i].used, requests ? 1 : 300) << i;
    EXPECT_EQ(in.states[i].remaining,
              static_cast<int64_t>(in.buckets[i].spec.limit) - (requests ? 1 : 300));
  }
}

TEST_F(InspectTest, OneRouteAndFiltersNarrowTheList) {
  EXPECT_EQ(run({"alice", "", "", ""}, {"embeddings"}).buckets.size(), 2u);
  Inspection p = run({"alice", "chat-only", "", ""}, {"chat", "embeddings"});
  ASSERT_EQ(p.buckets.size(), 1u);
  EXPECT_EQ(p.buckets[0].rule, "chat-global");
  EXPECT_EQ(run({"alice", "", "tokens", ""}, {"chat"}).buckets.size(), 2u);
  EXPECT_TRUE(run({"alice", "nope", "", ""}, {"chat"}).buckets.empty());
}

TEST_F(InspectTest, ResetForgetsOnlyTheQueriedConsumersBuckets) {
  use("chat", 300);
  Inspection r = run({"alice", "per-consumer", "", ""}, {"chat"}, InspectAction::Reset);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.states.size(), 2u);
  for (size_t i = 0; i < r.states.size(); ++i) {
    EXPECT_EQ(r.states[i].used, 0);
  }
  Inspection after = run({"alice", "", "", ""}, {"chat"});
  ASSERT_EQ(after.states.size(), 3u);
  EXPECT_EQ(after.states[0].used, 0);
  EXPECT_EQ(after.states[1].used, 0);
  EXPECT_EQ(after.states[2].used, 300);  // the global bucket was not reset
}

TEST_F(InspectTest, UnknownConsumerIsNotFoundAndAsksNothing) {
  Inspection in = run({"mallory", "", "", ""}, {"chat"});
  EXPECT_TRUE(in.notFound);
  EXPECT_FALSE(in.ok());
  EXPECT_NE(in.error.find("mallory"), std::string::npos);
  EXPECT_TRUE(in.buckets.empty());
}

}  // namespace
}  // namespace tg::limiter
