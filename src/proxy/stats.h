#pragma once
// ProxyStats: the request path's metric families (STYLE.md §14): requests, tokens, estimated
// usage, upstream timings and circuit breakers. Metrics: the registry and every module's stats,
// built once at start-up by the app and shared (read-only but for the series) by every worker.
//
//   metrics::Registry  the families and the /metrics exposition (metrics/registry.h)
//   store::StoreStats  store backends' calls, latency, errors (store/stats.h)
//   limiter::LimiterStats  decisions, reserved vs settled tokens, failure modes (limiter/stats.h)
//   ProxyStats         below; recorded through each worker's Recorder (proxy/recorder.h)
//   tokengate_build_info and tokengate_metrics_overflow_total: the process's own
//
// Thread safety: safe from any thread. Everything lives as long as the Metrics object, which
// must outlive the workers and stores that record into it.

#include <cstdint>
#include <string_view>

#include "limiter/stats.h"
#include "metrics/registry.h"
#include "proxy/breaker.h"
#include "store/stats.h"

namespace tg::proxy {

// Series caps (docs/metrics.md explains each).
inline constexpr uint32_t kMaxRequestSeries = 4096;        // route, upstream, consumer, model, code
inline constexpr uint32_t kMaxTokenSeries = 8192;          // consumer, model, kind (5 kinds)
inline constexpr uint32_t kMaxEstimateSeries = 512;        // route, reason
inline constexpr uint32_t kMaxUpstreamSeries = 256;        // per-upstream families
inline constexpr uint32_t kMaxUpstreamModelSeries = 1024;  // upstream, model

// The overflow counter of every family (RegistryOptions::overflowMetric).
inline constexpr std::string_view kOverflowMetric = "tokengate_metrics_overflow_total";

// Why a request's usage is the gateway's estimate (label `reason`; decided in observe.cc).
enum class EstimateReason : uint8_t {
  Incomplete,  // the response was cut, failed, or the client left before the usage figure
  Missing,     // the response completed but the provider reported no usage
};
std::string_view estimateReasonName(EstimateReason r);  // "incomplete", "missing"

struct ProxyStats {
  explicit ProxyStats(metrics::Registry& registry);

  // Any thread; a rare control-path event, so it resolves the series every call. The gauge's
  // values: 0 closed, 1 half-open, 2 open.
  void setBreakerState(std::string_view upstream, BreakerState s);

  metrics::CounterFamily& requests;                 // tokengate_requests_total
  metrics::CounterFamily& tokens;                   // tokengate_tokens_total
  metrics::CounterFamily& estimatedUsage;           // tokengate_usage_estimated_total
  metrics::CounterFamily& streamCuts;               // tokengate_stream_cuts_total
  metrics::HistogramFamily& upstreamFirstByte;      // tokengate_upstream_first_byte_seconds
  metrics::HistogramFamily& timeToFirstToken;       // tokengate_time_to_first_token_seconds
  metrics::HistogramFamily& outputTokensPerSecond;  // tokengate_output_tokens_per_second
  metrics::GaugeFamily& breakerState;               // tokengate_circuit_breaker_state
  // Upstream protection (upstreams[].max_concurrent / max_tokens_in_flight, upstream_gate.h).
  metrics::GaugeFamily& upstreamInFlight;        // tokengate_upstream_in_flight
  metrics::GaugeFamily& upstreamTokensInFlight;  // tokengate_upstream_tokens_in_flight
  metrics::GaugeFamily& upstreamQueued;          // tokengate_upstream_queue_depth
  metrics::CounterFamily& upstreamQueueRefused;  // tokengate_upstream_queue_refused_total
  metrics::HistogramFamily& upstreamQueueWait;   // tokengate_upstream_queue_wait_seconds
};

struct Metrics {
  // `version`: the tokengate_build_info label.
  explicit Metrics(std::string_view version);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  metrics::Registry registry;  // first: the stats below refer into it
  store::StoreStats store;
  limiter::LimiterStats limiter;
  ProxyStats proxy;
};

}  // namespace tg::proxy
