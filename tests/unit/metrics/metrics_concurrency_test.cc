// Real threads: increments from many threads sum exactly (more threads than shards, so shards
// are shared too), label sets are resolved concurrently with updates and scrapes, and the
// exposition stays consistent (_count equals the +Inf bucket). Meant to run under
// ThreadSanitizer too (TG_TSAN).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "metrics/registry.h"

namespace tg::metrics {
namespace {

constexpr int kThreads = static_cast<int>(kShards) + 4;  // some threads share a shard
constexpr int kIters = 20000;

TEST(MetricsConcurrency, CounterIncrementsSumExactly) {
  Registry r;
  CounterFamily& c = r.counter({"n_total", "N.", {"route"}, 10});
  Counter shared = c.labels({"chat"});
  std::atomic<bool> stop{false};
  std::thread scraper([&] {
    while (!stop.load()) {
      std::string s = r.expose();
      ASSERT_FALSE(s.empty());
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter own = c.labels({t % 2 == 0 ? "even" : "odd"});  // resolved concurrently
      for (int i = 0; i < kIters; ++i) {
        shared.inc();
        own.inc(2);
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  stop = true;
  scraper.join();
  EXPECT_EQ(shared.value(), uint64_t{kThreads} * kIters);
  EXPECT_EQ(c.labels({"even"}).value() + c.labels({"odd"}).value(),
            uint64_t{kThreads} * kIters * 2);
  EXPECT_NE(r.expose().find("n_total{route=\"chat\"} " + std::to_string(kThreads * kIters)),
            std::string::npos);
}

TEST(MetricsConcurrency, HistogramAndGaugeUpdatesAreExact) {
  Registry r;
  HistogramFamily& h = r.histogram({"h_seconds", "H.", {}, 1}, {0.5, 1});
  GaugeFamily& g = r.gauge({"g", "G.", {}, 1});
  Histogram hist = h.labels({});
  Gauge gauge = g.labels({});
  std::atomic<bool> stop{false};
  std::thread scraper([&] {
    while (!stop.load()) {
      // _count is derived from the buckets, so it always equals the +Inf bucket.
      const std::string s = r.expose();
      const auto inf = s.find("le=\"+Inf\"} ");
      const auto cnt = s.find("h_seconds_count ");
      ASSERT_NE(inf, std::string::npos);
      ASSERT_NE(cnt, std::string::npos);
      const auto infVal = s.substr(inf + 11, s.find('\n', inf) - inf - 11);
      const auto cntVal = s.substr(cnt + 16, s.find('\n', cnt) - cnt - 16);
      ASSERT_EQ(infVal, cntVal);
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIters; ++i) {
        hist.observe(i % 2 == 0 ? 0.25 : 2);  // exact in binary: sums are exact too
        gauge.add(1);
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  stop = true;
  scraper.join();
  const uint64_t n = uint64_t{kThreads} * kIters;
  EXPECT_EQ(hist.count(), n);
  EXPECT_EQ(hist.bucketCount(0), n / 2);
  EXPECT_EQ(hist.bucketCount(2), n / 2);
  EXPECT_DOUBLE_EQ(hist.sum(), (n / 2) * 0.25 + (n / 2) * 2.0);
  EXPECT_DOUBLE_EQ(gauge.value(), static_cast<double>(n));
}

}  // namespace
}  // namespace tg::metrics
