// proxy::AdmissionQueues (on_limit: queue): the cost of one queued request (join, wait for its
// turn, tried and admitted) with 100, 1,000 and 10,000 waiters in one bucket's queue, on one
// io_context, so the O(log n) fair queue is measured with Asio's own cost around it (a
// coroutine frame, a timer, one post per turn). Also the request path's cost while nobody
// waits: idle(), one relaxed atomic load.
// Run: build/bench/tokengate_admission_queue_bench

#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <string>
#include <vector>

#include "proxy/admission_queue.h"

namespace {

namespace net = tg::http::net;
using std::chrono::milliseconds;
using tg::proxy::AdmissionQueues;

// Per iteration: `waiters` requests of 100 keys (costs 1..64) join one bucket's queue, then
// each in turn gets its turn and is admitted, which hands the turn to the next; the time is
// divided by `waiters`.
void BM_QueuedRequest(benchmark::State& state) {
  const auto waiters = static_cast<size_t>(state.range(0));
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) {
    keys.push_back("consumer-" + std::to_string(i));
  }
  tg::store::BucketSpec bucket;
  bucket.key = "tg1:shared:all:total_tokens:60000:";
  bucket.algorithm = tg::store::Algorithm::TokenBucket;
  bucket.limit = 1'000'000'000;
  bucket.window = milliseconds(60'000);
  for (auto _ : state) {
    net::io_context io;
    AdmissionQueues queues;
    size_t admitted = 0;
    for (size_t i = 0; i < waiters; ++i) {
      AdmissionQueues::Ask ask;
      ask.bucket = &bucket;
      ask.fairKey = keys[i % keys.size()];
      ask.cost = 1 + i % 64;
      ask.retryIn = milliseconds(i == 0 ? 0 : 1000);  // the first one is the head: it tries
      ask.maxQueued = waiters;
      ask.maxWait = milliseconds(3'600'000);
      AdmissionQueues::Joined j = queues.join(ask, io.get_executor());
      net::co_spawn(
          io,
          [&queues, &admitted, w = std::move(j.waiter)]() -> tg::http::Task<void> {
            if (co_await queues.wait(w, nullptr) == AdmissionQueues::Wake::Turn) {
              queues.tried(*w, true, milliseconds(0));
              ++admitted;
            }
          },
          net::detached);
    }
    io.restart();
    io.poll();  // every admission hands the turn to the next head: one poll drains the queue
    if (admitted != waiters) {
      state.SkipWithError("not every waiter was admitted");
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * waiters));
}
BENCHMARK(BM_QueuedRequest)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

// What every request of a queueing policy pays while nothing waits.
void BM_IdleCheck(benchmark::State& state) {
  AdmissionQueues queues;
  for (auto _ : state) {
    benchmark::DoNotOptimize(queues.idle());
  }
}
BENCHMARK(BM_IdleCheck);

}  // namespace

BENCHMARK_MAIN();
