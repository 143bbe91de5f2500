// The limiter's part of one request, piece by piece, on the configuration of
// bench/limits/limited.yaml (per-consumer tokens + requests per minute, one consumer):
//   KeyAuth          presentedKey + findConsumerByKey (SHA-256 of the key, constant-time compare)
//   Match            matchInto: the request's buckets (keys built, limits resolved)
//   AdmitSettle      Admission::admit (match + one atomic reserve of 2 buckets) + settle
//   Headers          Admission::appendHeaders (x-ratelimit-* lines)
//   Whole            all of the above, as the request path runs them
// Compare with the CPU a proxied request costs (~20 µs on this machine, docs/benchmarks.md):
// issue 4 wants limits to cost <= 5% of the throughput.
// Run: build/bench/tokengate_admission_bench

#include <benchmark/benchmark.h>

#include <chrono>
#include <optional>
#include <string>

#include "config/loader.h"
#include "limiter/admission.h"
#include "limiter/compile.h"
#include "limiter/rules.h"
#include "store/memory_store.h"

namespace {

// Token usage as (input, of which cached, output).
tg::core::TokenUsage used(uint64_t input, uint64_t cached, uint64_t output) {
  tg::core::TokenUsage u;
  u.inputTokens = input;
  u.cachedInputTokens = cached;
  u.outputTokens = output;
  return u;
}

using namespace tg;

const char* kConfig = R"(
rate_limits:
  consumers:
  - name: bench
    keys: ["sk-bench-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"]
  - {name: other1, keys: [sk-other-1]}
  - {name: other2, keys: [sk-other-2]}
  policies:
  - name: bench
    rules:
    - by: per_consumer
      limits:
      - {tokens: 1000000000000, per: minute}
      - {requests: 1000000000000, per: minute}
)";

const limiter::PolicySet& policies() {
  static const limiter::PolicySet set =
      *limiter::compile(tg::config::readDocument(kConfig, nullptr).document.rateLimits).policies;
  return set;
}

const std::string kAuth = "Bearer sk-bench-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH";

std::optional<std::string_view> header(std::string_view n) {
  if (n == "authorization") return std::string_view(kAuth);
  return std::nullopt;
}

limiter::RequestFacts facts(const limiter::Consumer* c) {
  limiter::RequestFacts f;
  f.consumer = c;
  f.apiKeyId = "bench#0";
  f.header = header;
  f.clientIp = "127.0.0.1";
  f.model = "gpt-4o-mini";
  f.route = "chat";
  return f;
}

void KeyAuth(benchmark::State& state) {
  const auto& set = policies();
  for (auto _ : state) {
    auto key = limiter::presentedKey(set.keySources, header, "");
    auto m = limiter::findConsumerByKey(set.consumers, *key);
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(KeyAuth);

void Match(benchmark::State& state) {
  const auto& set = policies();
  std::vector<limiter::MatchedBucket> out;
  auto f = facts(&set.consumers[0]);
  auto now = std::chrono::system_clock::now();
  for (auto _ : state) {
    limiter::matchInto(set, f, now, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(Match);

void AdmitSettle(benchmark::State& state) {
  const auto& set = policies();
  store::MemoryStore store;
  limiter::Admission a;
  auto f = facts(&set.consumers[0]);
  for (auto _ : state) {
    auto now = std::chrono::system_clock::now();
    a.admit(set, store, nullptr, f, {450, 16}, now);
    a.settle(used(450, 0, 16), now);
  }
}
BENCHMARK(AdmitSettle);

void Headers(benchmark::State& state) {
  const auto& set = policies();
  store::MemoryStore store;
  limiter::Admission a;
  a.admit(set, store, nullptr, facts(&set.consumers[0]), {450, 16},
          std::chrono::system_clock::now());
  std::string out;
  for (auto _ : state) {
    out.clear();
    a.appendHeaders(out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(Headers);

void Whole(benchmark::State& state) {
  const auto& set = policies();
  store::MemoryStore store;
  limiter::Admission a;
  std::string out;
  for (auto _ : state) {
    auto key = limiter::presentedKey(set.keySources, header, "");
    auto m = limiter::findConsumerByKey(set.consumers, *key);
    auto now = std::chrono::system_clock::now();
    a.admit(set, store, nullptr, facts(m->consumer), {450, 16}, now);
    out.clear();
    a.appendHeaders(out);
    a.settle(used(450, 0, 16), std::chrono::system_clock::now());
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(Whole);

}  // namespace

BENCHMARK_MAIN();
