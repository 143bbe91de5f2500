// proxy::UpstreamGate: the cost of one queued request (enter, wait, served, released) with
// 10,000 (and 1,000, 100) waiters in the queue, on one io_context, so that the O(log n) queue
// is measured with Asio's own cost (a coroutine frame, a timer, one post) around it.
// Run: build/bench/tokengate_upstream_gate_bench

#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <string>
#include <vector>

#include "proxy/upstream_gate.h"

namespace {

namespace net = tg::http::net;
using tg::proxy::UpstreamGate;

// Per iteration: `waiters` requests queue behind one holder (100 keys, costs 1..64), then the
// holder and every request release in turn; the time is divided by `waiters`.
void BM_QueuedRequest(benchmark::State& state) {
  const auto waiters = static_cast<size_t>(state.range(0));
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) {
    keys.push_back("consumer-" + std::to_string(i));
  }
  tg::config::UpstreamGateConfig c;
  c.maxConcurrent = 1;
  c.maxQueued = static_cast<uint32_t>(waiters + 1);
  c.maxWait = std::chrono::hours(1);
  for (auto _ : state) {
    net::io_context io;
    auto gate = std::make_shared<UpstreamGate>(c, UpstreamGate::Metrics{});
    std::vector<UpstreamGate::Ticket> held;
    held.reserve(waiters + 1);
    size_t served = 0;
    auto enter = [&](size_t i) {
      net::co_spawn(
          io,
          [&, i]() -> tg::http::Task<void> {
            UpstreamGate::Entry e = co_await gate->enter(keys[i % keys.size()], 1 + i % 64);
            ++served;
            held.push_back(std::move(e.ticket));
          },
          net::detached);
    };
    for (size_t i = 0; i <= waiters; ++i) {
      enter(i);
    }
    io.restart();
    io.poll();
    for (size_t r = 0; r < waiters; ++r) {
      held[r].release();
      io.restart();
      io.poll();
    }
    held.back().release();
    if (served != waiters + 1) {
      state.SkipWithError("not every waiter was served");
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * waiters));
}
BENCHMARK(BM_QueuedRequest)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

// The fast path: room at once, no queue (what every request to a protected upstream pays).
void BM_EnterWithRoom(benchmark::State& state) {
  tg::config::UpstreamGateConfig c;
  c.maxConcurrent = 1000;
  net::io_context io;
  auto gate = std::make_shared<UpstreamGate>(c, UpstreamGate::Metrics{});
  for (auto _ : state) {
    net::co_spawn(
        io,
        [&]() -> tg::http::Task<void> {
          UpstreamGate::Entry e = co_await gate->enter("consumer", 100);
          benchmark::DoNotOptimize(e);
        },
        net::detached);
    io.restart();
    io.poll();
  }
}
BENCHMARK(BM_EnterWithRoom);

}  // namespace

BENCHMARK_MAIN();
