// proxy::UpstreamGate on one io_context: the order waiters are served in (start-time fair
// queueing by key over tokens), max_concurrent and max_tokens_in_flight, a request larger than
// the token budget running alone, max_queued, max_wait 0, and raised limits serving waiters.

#include "proxy/upstream_gate.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <string>
#include <vector>

namespace tg::proxy {
namespace {

namespace net = http::net;

config::UpstreamGateConfig limits(uint32_t concurrent, uint64_t tokens = 0, uint32_t queued = 1024) {
  config::UpstreamGateConfig c;
  c.maxConcurrent = concurrent;
  c.maxTokensInFlight = tokens;
  c.maxQueued = queued;
  c.maxWait = std::chrono::hours(1);
  return c;
}

struct Fixture {
  net::io_context io;
  std::shared_ptr<UpstreamGate> gate;
  std::vector<std::string> served;                 // names, in the order they got in
  std::vector<UpstreamGate::Ticket> tickets;       // held until released by the test
  std::vector<UpstreamGate::Refusal> refusals;

  explicit Fixture(config::UpstreamGateConfig c)
      : gate(std::make_shared<UpstreamGate>(c, UpstreamGate::Metrics{})) {}

  void enter(std::string name, std::string key, uint64_t cost) {
    net::co_spawn(
        io,
        [this, name, key, cost]() -> http::Task<void> {
          UpstreamGate::Entry e = co_await gate->enter(key, cost);
          if (e.ticket) {
            served.push_back(name);
            tickets.push_back(std::move(e.ticket));
          } else {
            refusals.push_back(e.refused);
          }
        },
        net::detached);
    io.restart();
    io.poll();
  }
  // Releases the oldest held ticket and lets the woken waiters run.
  void releaseOne() {
    ASSERT_FALSE(tickets.empty());
    tickets.erase(tickets.begin());
    io.restart();
    io.poll();
  }
};

TEST(UpstreamGate, ServesByStartTagNotArrival) {
  Fixture f(limits(1));
  f.enter("holder", "x", 10);
  f.enter("a1", "a", 10);
  f.enter("a2", "a", 10);
  f.enter("a3", "a", 10);
  f.enter("b1", "b", 10);  // arrives last, starts at the virtual time: right after a1
  EXPECT_EQ(f.gate->queued(), 4u);
  for (int i = 0; i < 4; ++i) {
    f.releaseOne();
  }
  EXPECT_EQ(f.served, (std::vector<std::string>{"holder", "a1", "b1", "a2", "a3"}));
  EXPECT_EQ(f.gate->inFlight(), 1u);
}

TEST(UpstreamGate, TokensInFlightAndALargeRequestAlone) {
  Fixture f(limits(0, 100));
  f.enter("s1", "a", 60);
  f.enter("s2", "b", 60);  // 120 > 100: waits
  EXPECT_EQ(f.served, (std::vector<std::string>{"s1"}));
  f.releaseOne();
  EXPECT_EQ(f.served, (std::vector<std::string>{"s1", "s2"}));
  f.releaseOne();
  f.enter("big", "c", 500);  // larger than the budget: runs when nothing else does
  EXPECT_EQ(f.served.back(), "big");
  f.enter("after", "d", 1);  // and the next waits for it
  EXPECT_EQ(f.served.back(), "big");
  f.releaseOne();
  EXPECT_EQ(f.served.back(), "after");
}

TEST(UpstreamGate, QueueBoundsAndRaisedLimits) {
  Fixture f(limits(1, 0, 1));
  f.enter("holder", "x", 1);
  f.enter("waiter", "y", 1);
  f.enter("refused", "z", 1);
  ASSERT_EQ(f.refusals.size(), 1u);
  EXPECT_EQ(f.refusals[0], UpstreamGate::Refusal::QueueFull);
  f.gate->setLimits(limits(2, 0, 1));  // one more may run: the waiter gets in at once
  f.io.restart();
  f.io.poll();
  EXPECT_EQ(f.served, (std::vector<std::string>{"holder", "waiter"}));

  config::UpstreamGateConfig noWait = limits(2);
  noWait.maxWait = std::chrono::milliseconds(0);
  f.gate->setLimits(noWait);
  f.enter("full", "z", 1);  // max_wait 0: refused instead of queued
  ASSERT_EQ(f.refusals.size(), 2u);
  EXPECT_EQ(f.refusals[1], UpstreamGate::Refusal::QueueFull);
  f.tickets.clear();
  EXPECT_EQ(f.gate->inFlight(), 0u);
}

}  // namespace
}  // namespace tg::proxy
