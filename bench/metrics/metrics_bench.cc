// Metric update and exposition cost.
//
//   CounterInc              Counter::inc through a cached handle (the request path)
//   CounterIncOneAtomic     baseline: every thread fetch_adds ONE shared atomic (what the
//                           per-thread shards avoid)
//   HistogramObserve        Histogram::observe, 14 buckets (the latency families)
//   GaugeSet                Gauge::set
//   LabelsLookup            family.labels({...}) of an existing 3-label set (mutex + map):
//                           what a caller that does not cache handles pays
//   RecordRequest           proxy::Recorder::recordRequest of a full observation (cache hit): one
//                           request's metrics, ~12 series
//   Expose/1000 counters    Registry::exposeTo with 1000 counter series
//   ExposeHistograms/1000   ... with 1000 histogram series (14 buckets: 17,000 lines)
// Multi-threaded variants run the same loop on every thread (items_per_second: all threads).
// Run: build/bench/tokengate_metrics_bench [--benchmark_filter=...]

#include <benchmark/benchmark.h>

#include <atomic>
#include <string>

#include "metrics/registry.h"
#include "proxy/recorder.h"
#include "proxy/stats.h"

namespace {

using namespace tg::metrics;

const std::vector<double> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                      1,     2.5,  5,     10,   30,  60,   120};

Registry& benchRegistry() {
  static Registry r;
  return r;
}

CounterFamily& counterFamily() {
  static CounterFamily& f =
      benchRegistry().counter({"bench_total", "Bench.", {"route", "consumer", "model"}, 4096});
  return f;
}

HistogramFamily& histogramFamily() {
  static HistogramFamily& f =
      benchRegistry().histogram({"bench_seconds", "Bench.", {"upstream"}, 64}, kBuckets);
  return f;
}

void CounterInc(benchmark::State& state) {
  Counter c = counterFamily().labels({"chat", "alice", "gpt-4o"});
  for (auto _ : state) {
    c.inc();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(CounterInc)->Threads(1)->Threads(2)->UseRealTime();

std::atomic<uint64_t> gOne{0};
void CounterIncOneAtomic(benchmark::State& state) {
  for (auto _ : state) {
    gOne.fetch_add(1, std::memory_order_relaxed);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(CounterIncOneAtomic)->Threads(1)->Threads(2)->UseRealTime();

void HistogramObserve(benchmark::State& state) {
  Histogram h = histogramFamily().labels({"openai"});
  double v = 0.001;
  for (auto _ : state) {
    h.observe(v);
    v = v < 100 ? v * 1.7 : 0.001;  // walk across the buckets
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(HistogramObserve)->Threads(1)->Threads(2)->UseRealTime();

void GaugeSet(benchmark::State& state) {
  static GaugeFamily& f = benchRegistry().gauge({"bench_gauge", "Bench.", {"upstream"}, 64});
  Gauge g = f.labels({"openai"});
  double v = 0;
  for (auto _ : state) {
    g.set(v);
    v += 1;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(GaugeSet);

void LabelsLookup(benchmark::State& state) {
  CounterFamily& f = counterFamily();
  f.labels({"chat", "alice", "gpt-4o"});
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.labels({"chat", "alice", "gpt-4o"}));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(LabelsLookup);

void RecordRequest(benchmark::State& state) {
  static tg::proxy::Metrics metrics("bench");
  tg::proxy::Recorder rec(metrics);
  tg::proxy::RequestObservation obs;
  obs.route = "chat";
  obs.upstream = "openai";
  obs.consumer = "alice";
  obs.model = "gpt-4o-mini";
  obs.status = 200;
  obs.tokens = tg::core::TokenUsage{.inputTokens = 1200,
                                    .cachedInputTokens = 1024,
                                    .cacheWriteInputTokens = 0,
                                    .outputTokens = 300,
                                    .reasoningTokens = 0};
  obs.reservedTokens = 5296;
  obs.settledTokens = 1500;
  obs.upstreamFirstByte = std::chrono::milliseconds(180);
  obs.firstToken = std::chrono::milliseconds(240);
  obs.upstreamDuration = std::chrono::milliseconds(3240);
  for (auto _ : state) {
    rec.recordRequest(obs);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(RecordRequest)->Threads(1)->Threads(2)->UseRealTime();

void Expose(benchmark::State& state) {
  Registry r;
  CounterFamily& f = r.counter({"tokengate_requests_total",
                                "Requests.",
                                {"route", "upstream", "consumer", "model", "status"},
                                4096});
  for (int i = 0; i < state.range(0); ++i) {
    f.labels({"chat", "openai", "consumer-" + std::to_string(i % 100),
              "model-" + std::to_string(i / 100), "200"})
        .inc(static_cast<uint64_t>(i) * 7919);
  }
  std::string out;
  for (auto _ : state) {
    out.clear();
    r.exposeTo(out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
  state.SetItemsProcessed(state.iterations() * state.range(0));  // series per second
}
BENCHMARK(Expose)->Arg(1000)->Unit(benchmark::kMicrosecond);

void ExposeHistograms(benchmark::State& state) {
  Registry r;
  HistogramFamily& f = r.histogram(
      {"tokengate_time_to_first_token_seconds", "TTFT.", {"upstream", "model"}, 4096}, kBuckets);
  for (int i = 0; i < state.range(0); ++i) {
    Histogram h =
        f.labels({"upstream-" + std::to_string(i % 10), "model-" + std::to_string(i / 10)});
    for (int k = 0; k < 20; ++k) {
      h.observe(0.01 * (k + i % 7));
    }
  }
  std::string out;
  for (auto _ : state) {
    out.clear();
    r.exposeTo(out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(ExposeHistograms)->Arg(1000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
