// limiter::FairQueue (start-time fair queueing by key over tokens, weighted) and queueWait
// (how long a request waits behind the tokens queued ahead of it, per algorithm).

#include "limiter/fair_queue.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace tg::limiter {
namespace {

using std::chrono::milliseconds;

// Serves every waiter in order; returns the keys as served.
std::vector<std::string> drain(FairQueue& q) {
  std::vector<std::string> out;
  while (!q.empty()) {
    const FairQueue::Tag t = q.head();
    out.push_back(*static_cast<std::string*>(t.item));
    q.erase(t, true);
  }
  return out;
}

TEST(FairQueue, OneKeyIsFirstComeFirstServed) {
  FairQueue q;
  std::string a = "a1", b = "a2", c = "a3";
  q.push("alice", 10, 1, &a);
  q.push("alice", 10, 1, &b);
  q.push("alice", 10, 1, &c);
  EXPECT_EQ(drain(q), (std::vector<std::string>{"a1", "a2", "a3"}));
}

TEST(FairQueue, AKeyWithManyWaitersLinesUpBehindTheOthers) {
  FairQueue q;
  std::vector<std::string> names;
  names.reserve(8);
  for (int i = 0; i < 5; ++i) {
    names.push_back("greedy" + std::to_string(i));
  }
  names.push_back("b");
  names.push_back("c");
  for (int i = 0; i < 5; ++i) {
    q.push("greedy", 100, 1, &names[static_cast<size_t>(i)]);
  }
  q.push("bob", 100, 1, &names[5]);
  q.push("carol", 100, 1, &names[6]);
  // greedy0, bob and carol all start at virtual time 0 (arrival breaks the tie); greedy's
  // next waiters start at 100, 200, ...
  EXPECT_EQ(drain(q), (std::vector<std::string>{"greedy0", "b", "c", "greedy1", "greedy2",
                                                "greedy3", "greedy4"}));
}

TEST(FairQueue, ServiceIsByTokensNotRequests) {
  // big asks 400 per request, small 100: small gets four requests per big one.
  FairQueue q;
  std::vector<std::string> items(40);
  for (int i = 0; i < 20; ++i) {
    items[static_cast<size_t>(i)] = "big";
    items[static_cast<size_t>(20 + i)] = "small";
    q.push("big", 400, 1, &items[static_cast<size_t>(i)]);
    q.push("small", 100, 1, &items[static_cast<size_t>(20 + i)]);
  }
  std::vector<std::string> order = drain(q);
  order.resize(20);  // while both are backlogged
  uint64_t big = 0, small = 0;
  for (const std::string& s : order) {
    (s == "big" ? big : small) += s == "big" ? 400 : 100;
  }
  EXPECT_NEAR(static_cast<double>(big) / static_cast<double>(small), 1.0, 0.35);
}

TEST(FairQueue, WeightFourGetsFourTimesTheTokens) {
  FairQueue q;
  std::vector<std::string> items;
  items.reserve(2000);
  for (int i = 0; i < 1000; ++i) {
    items.push_back("gold");
    q.push("gold", 50, 4, &items.back());
    items.push_back("free");
    q.push("free", 50, 1, &items.back());
  }
  std::vector<std::string> order = drain(q);
  order.resize(500);
  int gold = 0;
  for (const std::string& s : order) {
    gold += s == "gold";
  }
  EXPECT_NEAR(gold / 500.0, 0.8, 0.01);
}

TEST(FairQueue, CostBeforeSumsTheWaitersAheadInServingOrder) {
  FairQueue q;
  int dummy = 0;
  const FairQueue::Tag g1 = q.push("greedy", 10, 1, &dummy);
  const FairQueue::Tag g2 = q.push("greedy", 20, 1, &dummy);
  const FairQueue::Tag g3 = q.push("greedy", 30, 1, &dummy);
  EXPECT_EQ(q.costBefore(g1), 0u);
  EXPECT_EQ(q.costBefore(g2), 10u);
  EXPECT_EQ(q.costBefore(g3), 30u);
  EXPECT_EQ(q.cost(), 60u);
  // A newcomer of another key starts at virtual time 0: only greedy's first waiter (same
  // start, earlier arrival) is ahead of it.
  const FairQueue::Tag bob = q.peekTag("bob");
  EXPECT_EQ(q.costBefore(bob), 10u);
  // greedy's next one would be last.
  EXPECT_EQ(q.costBefore(q.peekTag("greedy")), 60u);
  q.erase(g2, false);
  EXPECT_EQ(q.costBefore(g3), 10u);
  EXPECT_EQ(q.cost(), 40u);
}

TEST(FairQueue, CostBeforeMatchesALinearScanUnderRandomOperations) {
  std::mt19937_64 rng(7);
  FairQueue q;
  std::map<std::pair<double, uint64_t>, uint64_t> model;  // (start, seq) -> cost
  std::vector<FairQueue::Tag> live;
  int dummy = 0;
  for (int step = 0; step < 5000; ++step) {
    const uint64_t r = rng() % 10;
    if (r < 6 || live.empty()) {
      const std::string key = "k" + std::to_string(rng() % 17);
      const FairQueue::Tag t =
          q.push(key, rng() % 1000, 1.0 + static_cast<double>(rng() % 4), &dummy);
      live.push_back(t);
      model[{t.start, t.seq}] = t.cost;
    } else {
      const size_t i = rng() % live.size();
      q.erase(live[i], r == 9);
      model.erase({live[i].start, live[i].seq});
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    }
    if (step % 97 == 0 && !live.empty()) {
      const FairQueue::Tag& t = live[rng() % live.size()];
      uint64_t want = 0;
      for (const auto& [k, c] : model) {
        if (k < std::make_pair(t.start, t.seq)) {
          want += c;
        }
      }
      ASSERT_EQ(q.costBefore(t), want) << "step " << step;
      ASSERT_EQ(q.size(), model.size());
    }
  }
}

TEST(FairQueue, ForgetsKeysWhenItEmpties) {
  FairQueue q;
  int dummy = 0;
  FairQueue::Tag t = q.push("alice", 1000, 1, &dummy);
  q.erase(t, true);
  EXPECT_TRUE(q.empty());
  // alice's finish tag is gone: her next request starts at the virtual time, like anyone's.
  EXPECT_EQ(q.peekTag("alice").start, q.peekTag("bob").start);
}

TEST(FairQueue, AWaiterThatGivesUpLeavesTheClockAlone) {
  FairQueue q;
  int dummy = 0;
  q.push("a", 10, 1, &dummy);
  FairQueue::Tag b2 = q.push("b", 10, 1, &dummy);
  FairQueue::Tag b3 = q.push("b", 10, 1, &dummy);
  q.erase(b3, false);
  EXPECT_EQ(q.virtualTime(), 0);
  q.erase(b2, true);
  EXPECT_EQ(q.virtualTime(), 0);  // b2 started at 0 too
}

store::BucketSpec bucket(store::Algorithm a, uint64_t limit, milliseconds window) {
  store::BucketSpec s;
  s.key = "k";
  s.algorithm = a;
  s.limit = limit;
  s.window = window;
  return s;
}

TEST(QueueWait, NothingAheadIsTheStoresAnswer) {
  EXPECT_EQ(queueWait(bucket(store::Algorithm::TokenBucket, 100, milliseconds(1000)),
                      milliseconds(570), 0, 57),
            milliseconds(570));
}

TEST(QueueWait, TokenBucketRefillsTheTokensAheadAtItsRate) {
  // 100 tokens per second: 3 waiters of 57 ahead take 1.71 s more.
  EXPECT_EQ(queueWait(bucket(store::Algorithm::TokenBucket, 100, milliseconds(1000)),
                      milliseconds(570), 171, 57),
            milliseconds(570 + 1710));
  EXPECT_EQ(queueWait(bucket(store::Algorithm::SlidingWindow, 60, milliseconds(60'000)),
                      milliseconds(1000), 30, 10),
            milliseconds(1000 + 30'000));
}

TEST(QueueWait, FixedWindowServesALimitPerWindow) {
  const store::BucketSpec b = bucket(store::Algorithm::FixedWindow, 100, milliseconds(60'000));
  // Everything ahead and this request fit in the next window: served at its start.
  EXPECT_EQ(queueWait(b, milliseconds(5000), 40, 60), milliseconds(5000));
  // 150 ahead + 60: the third window from now.
  EXPECT_EQ(queueWait(b, milliseconds(5000), 150, 60), milliseconds(5000 + 120'000));
}

TEST(QueueWait, BehindAHeadThatFitsLaterTheRestRefillsAfterIt) {
  // 10 tokens per second; the head (57) fits in 1.4 s; one more request of 57 behind it.
  const store::BucketSpec tb = bucket(store::Algorithm::TokenBucket, 100, milliseconds(10'000));
  EXPECT_EQ(queueWaitBehind(tb, milliseconds(1400), 57, 57, 57), milliseconds(1400 + 5700));
  // Two waiters ahead (the head and one of 30), then this one.
  EXPECT_EQ(queueWaitBehind(tb, milliseconds(1400), 57, 87, 57), milliseconds(1400 + 8700));
  // Fixed window of 100 per minute: the head's window holds it and 43 more.
  const store::BucketSpec fw = bucket(store::Algorithm::FixedWindow, 100, milliseconds(60'000));
  EXPECT_EQ(queueWaitBehind(fw, milliseconds(5000), 57, 57, 40), milliseconds(5000));
  EXPECT_EQ(queueWaitBehind(fw, milliseconds(5000), 57, 57, 57), milliseconds(65'000));
  EXPECT_EQ(queueWaitBehind(bucket(store::Algorithm::Concurrency, 4, milliseconds(0)),
                            milliseconds(100), 1, 1, 1),
            milliseconds(0));
}

TEST(QueueWait, ConcurrencyIsUnknown) {
  EXPECT_EQ(queueWait(bucket(store::Algorithm::Concurrency, 4, milliseconds(0)), milliseconds(0),
                      10, 1),
            milliseconds(0));
}

}  // namespace
}  // namespace tg::limiter
