// Every module's families in one proxy::Metrics, and the proxy's Recorder: scripted
// observations, asserted through the families' series (STYLE.md §14: tests assert on metrics).
#include "proxy/recorder.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "proxy/stats.h"

namespace tg::proxy {
namespace {

using std::chrono::milliseconds;

RequestObservation chat(std::string_view consumer, int status) {
  RequestObservation o;
  o.route = "chat";
  o.upstream = "openai";
  o.consumer = consumer;
  o.model = "gpt-4o-mini";
  o.status = status;
  return o;
}

TEST(ProxyRecorder, EveryFamilyIsExposedWithItsType) {
  Metrics m("1.2.3");
  const std::string s = m.registry.expose();
  for (const char* line : {
           "# TYPE tokengate_requests_total counter\n",
           "# TYPE tokengate_tokens_total counter\n",
           "# TYPE tokengate_ratelimit_decisions_total counter\n",
           "# TYPE tokengate_ratelimit_reserved_tokens_total counter\n",
           "# TYPE tokengate_ratelimit_settled_tokens_total counter\n",
           "# TYPE tokengate_ratelimit_overshoot_tokens histogram\n",
           "# TYPE tokengate_ratelimit_refund_tokens histogram\n",
           "# TYPE tokengate_usage_estimated_total counter\n",
           "# TYPE tokengate_store_operations_total counter\n",
           "# TYPE tokengate_store_duration_seconds histogram\n",
           "# TYPE tokengate_store_errors_total counter\n",
           "# TYPE tokengate_store_failure_policy_total counter\n",
           "# TYPE tokengate_upstream_first_byte_seconds histogram\n",
           "# TYPE tokengate_time_to_first_token_seconds histogram\n",
           "# TYPE tokengate_output_tokens_per_second histogram\n",
           "# TYPE tokengate_circuit_breaker_state gauge\n",
           "# TYPE tokengate_build_info gauge\n",
           "# TYPE tokengate_metrics_overflow_total counter\n",
           "tokengate_build_info{version=\"1.2.3\"} 1\n",
       }) {
    EXPECT_NE(s.find(line), std::string::npos) << line;
  }
}

TEST(ProxyRecorder, RecordRequestUpdatesEverySeriesItConcerns) {
  Metrics m("test");
  Recorder rec(m);
  ProxyStats& c = m.proxy;
  limiter::LimiterStats& l = m.limiter;

  RequestObservation a = chat("alice", 200);
  a.tokens = tg::core::TokenUsage{.inputTokens = 100,
                                  .cachedInputTokens = 40,
                                  .cacheWriteInputTokens = 0,
                                  .outputTokens = 50,
                                  .reasoningTokens = 20};
  a.reservedTokens = 1000;
  a.settledTokens = 150;  // refund 850
  a.upstreamFirstByte = milliseconds(120);
  a.firstToken = milliseconds(300);
  a.upstreamDuration = milliseconds(800);  // 50 tokens in 0.5 s: 100 tokens/s
  rec.recordRequest(a);

  RequestObservation b = chat("alice", 200);
  b.tokens = tg::core::TokenUsage{.inputTokens = 10, .outputTokens = 2000};
  b.estimated = EstimateReason::Incomplete;
  b.reservedTokens = 1000;
  b.settledTokens = 2010;  // overshoot 1010
  rec.recordRequest(b);

  rec.recordRequest(chat("bob", 429));

  EXPECT_EQ(c.requests.labels({"chat", "openai", "alice", "gpt-4o-mini", "200"}).value(), 2u);
  EXPECT_EQ(c.requests.labels({"chat", "openai", "bob", "gpt-4o-mini", "429"}).value(), 1u);
  EXPECT_EQ(c.tokens.labels({"alice", "gpt-4o-mini", "input"}).value(), 110u);
  EXPECT_EQ(c.tokens.labels({"alice", "gpt-4o-mini", "cached"}).value(), 40u);
  EXPECT_EQ(c.tokens.labels({"alice", "gpt-4o-mini", "output"}).value(), 2050u);
  EXPECT_EQ(c.tokens.labels({"alice", "gpt-4o-mini", "reasoning"}).value(), 20u);
  EXPECT_EQ(c.tokens.labels({"bob", "gpt-4o-mini", "input"}).value(), 0u);
  EXPECT_EQ(l.reservedTokens.labels({"chat"}).value(), 2000u);
  EXPECT_EQ(l.settledTokens.labels({"chat"}).value(), 2160u);
  EXPECT_EQ(l.refund.labels({"chat"}).count(), 1u);
  EXPECT_DOUBLE_EQ(l.refund.labels({"chat"}).sum(), 850);
  EXPECT_EQ(l.overshoot.labels({"chat"}).count(), 1u);
  EXPECT_DOUBLE_EQ(l.overshoot.labels({"chat"}).sum(), 1010);
  EXPECT_EQ(c.estimatedUsage.labels({"chat", "incomplete"}).value(), 1u);
  EXPECT_EQ(c.estimatedUsage.labels({"chat", "missing"}).value(), 0u);
  EXPECT_EQ(c.upstreamFirstByte.labels({"openai"}).count(), 1u);
  EXPECT_DOUBLE_EQ(c.upstreamFirstByte.labels({"openai"}).sum(), 0.12);
  EXPECT_DOUBLE_EQ(c.timeToFirstToken.labels({"openai", "gpt-4o-mini"}).sum(), 0.3);
  EXPECT_DOUBLE_EQ(c.outputTokensPerSecond.labels({"openai", "gpt-4o-mini"}).sum(), 100);

  const std::string s = m.registry.expose();
  EXPECT_NE(s.find("tokengate_requests_total{route=\"chat\",upstream=\"openai\","
                   "consumer=\"alice\",model=\"gpt-4o-mini\",status=\"200\"} 2\n"),
            std::string::npos);
  EXPECT_NE(s.find("tokengate_ratelimit_refund_tokens_bucket{route=\"chat\",le=\"1000\"} 1\n"),
            std::string::npos);
  EXPECT_NE(s.find("tokengate_ratelimit_overshoot_tokens_bucket{route=\"chat\",le=\"1000\"} 0\n"),
            std::string::npos);
  EXPECT_NE(s.find("tokengate_ratelimit_overshoot_tokens_bucket{route=\"chat\",le=\"2500\"} 1\n"),
            std::string::npos);
}

TEST(ProxyRecorder, DecisionsStoreFailurePolicyAndBreaker) {
  Metrics m("test");
  Recorder rec(m);
  using limiter::Outcome;
  rec.recordDecision("per-consumer", "minute", Outcome::Allowed);
  rec.recordDecision("per-consumer", "minute", Outcome::Rejected);
  rec.recordDecision("per-consumer", "minute", Outcome::Rejected);
  rec.recordDecision("global", "all", Outcome::ShadowRejected);
  rec.recordFailurePolicy("per-consumer", limiter::StoreFailureMode::Local);
  m.proxy.setBreakerState("openai", BreakerState::Open);
  m.proxy.setBreakerState("anthropic", BreakerState::HalfOpen);
  EXPECT_DOUBLE_EQ(m.proxy.breakerState.labels({"anthropic"}).value(), 1);
  m.proxy.setBreakerState("anthropic", BreakerState::Closed);

  limiter::LimiterStats& l = m.limiter;
  EXPECT_EQ(l.decisions.labels({"per-consumer", "minute", "rejected"}).value(), 2u);
  EXPECT_EQ(l.decisions.labels({"per-consumer", "minute", "allowed"}).value(), 1u);
  EXPECT_EQ(l.decisions.labels({"global", "all", "shadow_rejected"}).value(), 1u);
  EXPECT_EQ(l.failures.labels({"per-consumer", "local"}).value(), 1u);
  EXPECT_DOUBLE_EQ(m.proxy.breakerState.labels({"openai"}).value(), 2);
  EXPECT_DOUBLE_EQ(m.proxy.breakerState.labels({"anthropic"}).value(), 0);

  // The limiter's vocabulary: a rule's other decisions and a policy's other modes start at 0.
  const std::string s = m.registry.expose();
  EXPECT_NE(s.find("tokengate_ratelimit_decisions_total{policy=\"per-consumer\",rule=\"minute\","
                   "decision=\"too_large\"} 0\n"),
            std::string::npos);
  EXPECT_NE(
      s.find("tokengate_store_failure_policy_total{policy=\"per-consumer\",mode=\"open\"} 0\n"),
      std::string::npos);
  EXPECT_EQ(s.find("decision=\"none\""), std::string::npos);
  EXPECT_NE(s.find("tokengate_circuit_breaker_state{upstream=\"anthropic\"} 0\n"
                   "tokengate_circuit_breaker_state{upstream=\"openai\"} 2\n"),
            std::string::npos);
}

TEST(ProxyRecorder, ClientChosenModelsCannotGrowSeriesPastTheCap) {
  Metrics m("test");
  Recorder rec(m);
  ProxyStats& c = m.proxy;
  for (uint32_t i = 0; i < kMaxUpstreamModelSeries + 50; ++i) {
    const std::string model = "model-" + std::to_string(i);
    RequestObservation o = chat("alice", 200);
    o.model = model;
    o.firstToken = milliseconds(10);
    rec.recordRequest(o);
  }
  EXPECT_EQ(c.timeToFirstToken.seriesCount(), kMaxUpstreamModelSeries + 1);
  EXPECT_EQ(c.timeToFirstToken.labels({"__other__", "__other__"}).count(), 50u);
  const std::string s = m.registry.expose();
  EXPECT_NE(s.find("tokengate_metrics_overflow_total{family=\"tokengate_time_to_first_token_"
                   "seconds\"} 50\n"),
            std::string::npos);
}

TEST(ProxyRecorder, RecordersOnSeveralThreadsSumExactly) {
  Metrics m("test");
  constexpr int kWorkers = 4;
  constexpr int kRequests = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kWorkers; ++t) {
    threads.emplace_back([&] {
      Recorder rec(m);
      for (int i = 0; i < kRequests; ++i) {
        RequestObservation obs;
        obs.route = "chat";
        obs.upstream = "openai";
        obs.consumer = i % 2 == 0 ? "alice" : "bob";
        obs.model = "gpt-4o";
        obs.status = 200;
        obs.tokens = tg::core::TokenUsage{.inputTokens = 10, .outputTokens = 3};
        rec.recordRequest(obs);
        rec.recordDecision("per-consumer", "tokens", limiter::Outcome::Allowed);
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  const uint64_t n = uint64_t{kWorkers} * kRequests;
  EXPECT_EQ(m.proxy.requests.labels({"chat", "openai", "alice", "gpt-4o", "200"}).value(), n / 2);
  EXPECT_EQ(m.proxy.tokens.labels({"bob", "gpt-4o", "input"}).value(), n / 2 * 10);
  EXPECT_EQ(m.limiter.decisions.labels({"per-consumer", "tokens", "allowed"}).value(), n);
}

}  // namespace
}  // namespace tg::proxy
