// proxy::AdmissionQueues on one io_context: refusals at join (max_queued, a wait over
// max_wait), turns only for the head and in fair order, the head's retry at its refill time,
// notify(), timeouts, and a client that closes its connection while it waits.

#include "proxy/admission_queue.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <string>
#include <thread>
#include <vector>

namespace tg::proxy {
namespace {

namespace net = http::net;
using std::chrono::milliseconds;

store::BucketSpec tokenBucket(uint64_t perSecond) {
  store::BucketSpec b;
  b.key = "tg1:shared:all:total_tokens:1000:";
  b.algorithm = store::Algorithm::TokenBucket;
  b.limit = perSecond;
  b.window = milliseconds(1000);
  return b;
}

// A client stream that can be watched: the test says when the peer closes.
class WatchedStream final : public io::ByteStream {
 public:
  io::Task<size_t> readSome(net::mutable_buffer, io::error_code& ec) override {
    ec = net::error::operation_not_supported;
    co_return 0;
  }
  io::Task<size_t> write(net::const_buffer, net::const_buffer, io::error_code& ec) override {
    ec = net::error::operation_not_supported;
    co_return 0;
  }
  void cancel() override {
    if (handler_) {
      auto h = std::move(handler_);
      handler_ = nullptr;
      h(net::error::operation_aborted);
    }
  }
  void close() override {}
  void shutdownSend() override {}
  bool isOpen() const override { return true; }
  bool isTls() const override { return false; }
  bool watchReadable(std::function<void(io::error_code)> f) override {
    handler_ = std::move(f);
    ++watches;
    return true;
  }
  bool peerClosed() override { return closed; }
  void peerCloses() {
    closed = true;
    peerSends();
  }
  void peerSends() {
    auto h = std::move(handler_);
    handler_ = nullptr;
    h({});
  }
  bool watched() const { return handler_ != nullptr; }
  bool closed = false;
  int watches = 0;

 private:
  std::function<void(io::error_code)> handler_;
};

struct Fixture {
  net::io_context io;
  AdmissionQueues queues;
  store::BucketSpec bucket = tokenBucket(100);
  std::vector<std::string> turns;  // names, each time one got a turn
  std::vector<std::string> ended;  // "name:timeout", "name:gone"

  AdmissionQueues::Ask ask(std::string_view key, uint64_t cost, milliseconds retryIn,
                           milliseconds maxWait = milliseconds(60'000), size_t maxQueued = 1024) {
    AdmissionQueues::Ask a;
    a.bucket = &bucket;
    a.fairKey = key;
    a.cost = cost;
    a.retryIn = retryIn;
    a.maxWait = maxWait;
    a.maxQueued = maxQueued;
    return a;
  }
  // Starts a waiter that records its turns; each turn it is "rejected" again with `retryIn`
  // unless `admitAt` turns have passed.
  std::shared_ptr<AdmissionQueues::Waiter> start(std::string name, const AdmissionQueues::Ask& a,
                                                 int admitAfter = 1,
                                                 io::ByteStream* watch = nullptr) {
    AdmissionQueues::Joined j = queues.join(a, io.get_executor());
    EXPECT_NE(j.waiter, nullptr);
    std::shared_ptr<AdmissionQueues::Waiter> w = j.waiter;
    const milliseconds retry = a.retryIn.count() > 0 ? a.retryIn : milliseconds(1);
    net::co_spawn(
        io,
        [this, w, name, admitAfter, retry, watch]() -> http::Task<void> {
          for (int n = 1;; ++n) {
            const AdmissionQueues::Wake wake = co_await queues.wait(w, watch);
            if (wake != AdmissionQueues::Wake::Turn) {
              queues.leave(*w);
              AdmissionQueues::unwatch(*w);
              ended.push_back(name + (wake == AdmissionQueues::Wake::Gone ? ":gone" : ":timeout"));
              co_return;
            }
            turns.push_back(name);
            if (n >= admitAfter) {
              queues.tried(*w, true, milliseconds(0));
              AdmissionQueues::unwatch(*w);
              co_return;
            }
            queues.tried(*w, false, retry);
          }
        },
        net::detached);
    poll();
    return w;
  }
  void poll() {
    io.restart();
    io.poll();
  }
  // Runs handlers for about `ms` of real time (timers fire).
  void runFor(milliseconds ms) {
    io.restart();
    io.run_for(ms);
  }
};

TEST(AdmissionQueues, IdleUntilSomebodyWaits) {
  Fixture f;
  EXPECT_TRUE(f.queues.idle());
  EXPECT_FALSE(f.queues.has(f.bucket.key));
  f.start("a", f.ask("alice", 57, milliseconds(5000)));
  EXPECT_FALSE(f.queues.idle());
  EXPECT_TRUE(f.queues.has(f.bucket.key));
  EXPECT_FALSE(f.queues.has("tg1:other"));
}

TEST(AdmissionQueues, RefusesWhenFull) {
  Fixture f;
  f.start("a", f.ask("alice", 57, milliseconds(5000), milliseconds(60'000), 2));
  f.start("b", f.ask("bob", 57, milliseconds(5000), milliseconds(60'000), 2));
  AdmissionQueues::Joined j =
      f.queues.join(f.ask("carol", 57, milliseconds(5000), milliseconds(60'000), 2),
                    f.io.get_executor());
  EXPECT_EQ(j.waiter, nullptr);
  EXPECT_EQ(j.refused, AdmissionQueues::Refusal::Full);
  EXPECT_EQ(f.queues.waiting(), 2u);
}

TEST(AdmissionQueues, RefusesAWaitLongerThanMaxWaitWithThatWait) {
  Fixture f;  // 100 tokens per second
  // Alone: the store's 570 ms fits a 1 s max_wait.
  f.start("a", f.ask("alice", 57, milliseconds(570), milliseconds(1000)));
  // Behind alice's 57 tokens: 570 + 570 ms > 1 s: refused, told the whole wait.
  AdmissionQueues::Joined j =
      f.queues.join(f.ask("alice", 57, milliseconds(570), milliseconds(1000)), f.io.get_executor());
  EXPECT_EQ(j.refused, AdmissionQueues::Refusal::TooLong);
  EXPECT_EQ(j.wait, milliseconds(1140));
}

TEST(AdmissionQueues, OnlyTheHeadGetsTurnsAndTheNextGoesWhenItIsServed) {
  Fixture f;
  // A waiter that joined without trying (retryIn 0) and is the head tries at once.
  f.start("a", f.ask("alice", 10, milliseconds(0)), /*admitAfter=*/2);
  EXPECT_EQ(f.turns, (std::vector<std::string>{"a"}));
  f.start("b", f.ask("bob", 10, milliseconds(0)));
  EXPECT_EQ(f.turns, (std::vector<std::string>{"a"})) << "b is not the head";
  // a retries after its 1 ms refill and is admitted; b's turn comes right after.
  f.runFor(milliseconds(50));
  EXPECT_EQ(f.turns, (std::vector<std::string>{"a", "a", "b"}));
  EXPECT_TRUE(f.queues.idle());
}

TEST(AdmissionQueues, TurnsFollowFairOrderAcrossKeys) {
  Fixture f;
  // greedy queues three, then bob and carol one each; all rejected once with 1 ms refills.
  f.start("g1", f.ask("greedy", 100, milliseconds(1)));
  f.start("g2", f.ask("greedy", 100, milliseconds(1)));
  f.start("g3", f.ask("greedy", 100, milliseconds(1)));
  f.start("b", f.ask("bob", 100, milliseconds(1)));
  f.start("c", f.ask("carol", 100, milliseconds(1)));
  f.runFor(milliseconds(100));
  EXPECT_EQ(f.turns, (std::vector<std::string>{"g1", "b", "c", "g2", "g3"}));
}

TEST(AdmissionQueues, TheHeadWaitsForItsRefillThenRetries) {
  Fixture f;
  f.start("a", f.ask("alice", 10, milliseconds(30)), /*admitAfter=*/1);
  f.poll();
  EXPECT_TRUE(f.turns.empty()) << "it was just refused: it waits for the refill";
  f.runFor(milliseconds(10));
  EXPECT_TRUE(f.turns.empty());
  f.runFor(milliseconds(200));
  EXPECT_EQ(f.turns, (std::vector<std::string>{"a"}));
}

TEST(AdmissionQueues, NotifyGivesTheHeadATurnAtOnce) {
  Fixture f;
  f.start("a", f.ask("alice", 10, milliseconds(10'000)));
  f.poll();
  EXPECT_TRUE(f.turns.empty());
  f.queues.notify("tg1:unrelated");
  f.poll();
  EXPECT_TRUE(f.turns.empty());
  f.queues.notify(f.bucket.key);
  f.poll();
  EXPECT_EQ(f.turns, (std::vector<std::string>{"a"}));
}

TEST(AdmissionQueues, NotifyFromAnotherThreadWakesTheWaiterOnItsOwn) {
  Fixture f;
  f.start("a", f.ask("alice", 10, milliseconds(10'000)));
  std::thread t([&] { f.queues.notify(f.bucket.key); });
  t.join();
  f.runFor(milliseconds(100));
  EXPECT_EQ(f.turns, (std::vector<std::string>{"a"}));
}

TEST(AdmissionQueues, AWaiterTimesOutAtMaxWaitAndLeaves) {
  Fixture f;
  // Refused again at every turn (every 20 ms), for a max_wait of 30 ms.
  f.start("a", f.ask("alice", 10, milliseconds(20), milliseconds(30)), /*admitAfter=*/100);
  f.runFor(milliseconds(300));
  EXPECT_EQ(f.ended, (std::vector<std::string>{"a:timeout"}));
  EXPECT_TRUE(f.queues.idle());
  EXPECT_FALSE(f.queues.has(f.bucket.key));
}

TEST(AdmissionQueues, AClientThatClosesLeavesAndTheNextBecomesHead) {
  Fixture f;
  WatchedStream sa;
  f.start("a", f.ask("alice", 10, milliseconds(10'000)), 1, &sa);
  f.start("b", f.ask("bob", 10, milliseconds(10'000)));
  ASSERT_TRUE(sa.watched());
  sa.peerCloses();
  f.poll();
  EXPECT_EQ(f.ended, (std::vector<std::string>{"a:gone"}));
  // b, now the head, gets its turn at once.
  EXPECT_EQ(f.turns, (std::vector<std::string>{"b"}));
  EXPECT_TRUE(f.queues.idle());
}

TEST(AdmissionQueues, BytesFromTheClientEndTheWatchButNotTheWait) {
  Fixture f;
  WatchedStream s;
  f.start("a", f.ask("alice", 10, milliseconds(10'000)), 1, &s);
  ASSERT_TRUE(s.watched());
  s.peerSends();  // a pipelined request: readable, not closed
  f.poll();
  EXPECT_TRUE(f.ended.empty());
  EXPECT_EQ(f.queues.waiting(), 1u);
  f.runFor(milliseconds(20));
  EXPECT_EQ(s.watches, 1) << "not watched again (the bytes stay readable)";
  f.queues.notify(f.bucket.key);
  f.poll();
  EXPECT_EQ(f.turns, (std::vector<std::string>{"a"}));
}

}  // namespace
}  // namespace tg::proxy
