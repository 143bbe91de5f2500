// MemoryStore throughput: one iteration = one reserve + one settle (a request's admission and
// settlement) on uncontended, distinct keys; each benchmark thread has its own 1,024 keys of a
// realistic length (~45 bytes, like "tg:{default_rule}:consumer:t0-17:60000"), so threads
// share the store and its shards but never a bucket. items_per_second = reserve+settle pairs
// per second over all threads (wall time); double it for single operations.
//
// Variants:
//   ReserveSettle/<algorithm>  one bucket per request, ReserveResult reused (reserveInto): the
//                              limiter's path, no allocation per request
//   ReserveSettleByValue       Store::reserve returning a fresh ReserveResult (allocates)
//   ReserveSettle3Buckets      global + consumer + model buckets in one atomic reserve
//   KeyHash                    the SipHash-2-4-128 of one key, for scale
// Target (issue 4): >= 5 M pairs/s per core, scaling with threads on distinct keys.
// Run: build/bench/tokengate_store_bench [--benchmark_filter=...]

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "store/key_hash.h"
#include "store/memory_store.h"

namespace {

using namespace tg::store;
using std::chrono::milliseconds;

constexpr int kKeysPerThread = 1024;
constexpr int64_t kT0Ms = 28'333'334LL * 60'000;

MemoryStore& sharedStore() {
  static MemoryStore store;
  return store;
}

std::vector<BucketSpec> keysFor(int thread, Algorithm a, const char* kind) {
  std::vector<BucketSpec> specs;
  for (int i = 0; i < kKeysPerThread; ++i) {
    BucketSpec s;
    s.key = std::string("tg:{default_rule}:") + kind + ":t" + std::to_string(thread) + "-" +
            std::to_string(i) + ":60000";
    s.algorithm = a;
    s.limit = 1'000'000'000'000ULL;  // never rejects: measure the admitted path
    s.window = milliseconds(60'000);
    specs.push_back(std::move(s));
  }
  return specs;
}

// Simulated wall time: 1 ms per 64 requests, so token buckets refill and windows move on.
TimePoint timeAt(int64_t iteration) { return TimePoint(milliseconds(kT0Ms + iteration / 64)); }

void reserveSettle(benchmark::State& state, Algorithm a) {
  MemoryStore& store = sharedStore();
  const std::vector<BucketSpec> specs = keysFor(state.thread_index(), a, "consumer");
  const std::vector<int64_t> amount{1'500};
  const std::vector<int64_t> delta{-300};
  ReserveResult out;
  int64_t i = 0;
  for (auto _ : state) {
    const TimePoint now = timeAt(i);
    store.reserveInto(std::span(&specs[static_cast<size_t>(i) % kKeysPerThread], 1), amount,
                      ReserveMode::Reserve, now, out);
    store.settle(out.reservations, delta, now);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ReserveSettleFixedWindow(benchmark::State& state) {
  reserveSettle(state, Algorithm::FixedWindow);
}
void BM_ReserveSettleSlidingWindow(benchmark::State& state) {
  reserveSettle(state, Algorithm::SlidingWindow);
}
void BM_ReserveSettleTokenBucket(benchmark::State& state) {
  reserveSettle(state, Algorithm::TokenBucket);
}

void BM_ReserveSettleByValue(benchmark::State& state) {
  MemoryStore& store = sharedStore();
  const std::vector<BucketSpec> specs =
      keysFor(state.thread_index(), Algorithm::FixedWindow, "byvalue");
  const std::vector<int64_t> amount{1'500};
  const std::vector<int64_t> delta{-300};
  int64_t i = 0;
  for (auto _ : state) {
    const TimePoint now = timeAt(i);
    ReserveResult r = store.reserve(std::span(&specs[static_cast<size_t>(i) % kKeysPerThread], 1),
                                    amount, ReserveMode::Reserve, now);
    store.settle(r.reservations, delta, now);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ReserveSettle3Buckets(benchmark::State& state) {
  MemoryStore& store = sharedStore();
  const std::vector<BucketSpec> consumers =
      keysFor(state.thread_index(), Algorithm::TokenBucket, "consumer3");
  const std::vector<BucketSpec> globals =
      keysFor(state.thread_index(), Algorithm::FixedWindow, "global");
  const std::vector<BucketSpec> models =
      keysFor(state.thread_index(), Algorithm::SlidingWindow, "model");
  const std::vector<int64_t> amounts{1'500, 1'500, 1'500};
  const std::vector<int64_t> deltas{-300, -300, -300};
  // Requests built beforehand: building them is the limiter's cost, not the store's.
  std::vector<std::vector<BucketSpec>> requests;
  for (size_t k = 0; k < kKeysPerThread; ++k) {
    requests.push_back({globals[k % 8], consumers[k], models[k % 32]});
  }
  ReserveResult out;
  int64_t i = 0;
  for (auto _ : state) {
    const TimePoint now = timeAt(i);
    store.reserveInto(requests[static_cast<size_t>(i) % kKeysPerThread], amounts,
                      ReserveMode::Reserve, now, out);
    store.settle(out.reservations, deltas, now);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_KeyHash(benchmark::State& state) {
  const HashKey key = randomHashKey();
  const std::string k = "tg:{default_rule}:consumer:t0-17:60000";
  for (auto _ : state) {
    benchmark::DoNotOptimize(bucketIdFor(key, k, Algorithm::FixedWindow, 60'000));
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_ReserveSettleFixedWindow)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_ReserveSettleSlidingWindow)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_ReserveSettleTokenBucket)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_ReserveSettleByValue)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_ReserveSettle3Buckets)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_KeyHash);

}  // namespace

BENCHMARK_MAIN();
