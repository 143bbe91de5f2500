#pragma once
// Catalog: tokengate's metric families, declared as data in one place (catalog.cc), and the
// Recorder through which the request path updates them. docs/metrics.md lists every metric,
// its labels, its series cap and example PromQL.
//
// Wiring (the app creates one Catalog; each worker thread one Recorder):
//
//   metrics::Catalog catalog(TOKENGATE_VERSION);           // app: once, outlives workers
//   metrics::Recorder rec(catalog);                        // worker: one per thread
//   ... at the end of every proxied request:
//   metrics::RequestObservation obs;
//   obs.route = route.name; obs.upstream = upstream.name; obs.consumer = consumer; ...
//   rec.recordRequest(obs);                                // one call
//   ... admission:  rec.recordDecision(policy, rule, limiter::outcomeName(o));
//   ... store call: rec.recordStore(StoreKind::Redis, StoreOp::Reserve, elapsed, std::nullopt);
//   ... breaker:    catalog.setBreakerState(upstream, BreakerState::Open);   // any thread
//   ... admin:      catalog.registry().expose()            // the /metrics body
//
// Cost: a Recorder keeps the resolved handles of every (route, upstream, consumer, model,
// status) it has seen in a per-thread hash map (kRecorderCacheEntries at most; it starts over
// when full), so a recordRequest() costs one hash lookup plus a relaxed atomic add per updated
// series (see bench/metrics). A new tuple resolves its series once, under the families'
// mutexes.
//
// Thread safety: Catalog is safe from any thread. A Recorder belongs to one thread (its cache
// is not synchronized); the series it updates are shared and exact across Recorders.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/token_usage.h"
#include "metrics/registry.h"

namespace tg::metrics {

// Series caps of the catalog's families (docs/metrics.md explains each), and what they bound.
inline constexpr uint32_t kMaxRequestSeries = 4096;        // route, upstream, consumer, model, code
inline constexpr uint32_t kMaxTokenSeries = 8192;          // consumer, model, kind (5 kinds)
inline constexpr uint32_t kMaxDecisionSeries = 2048;       // policy, rule, decision
inline constexpr uint32_t kMaxRouteSeries = 256;           // per-route families
inline constexpr uint32_t kMaxEstimateSeries = 512;        // route, reason
inline constexpr uint32_t kMaxStoreSeries = 64;            // store, op (x4 with error)
inline constexpr uint32_t kMaxFailureSeries = 512;         // policy, mode
inline constexpr uint32_t kMaxUpstreamSeries = 256;        // per-upstream families
inline constexpr uint32_t kMaxUpstreamModelSeries = 1024;  // upstream, model
inline constexpr size_t kRecorderCacheEntries = 2048;      // per Recorder (worker)

// The overflow counter of every family (RegistryOptions::overflowMetric).
inline constexpr std::string_view kOverflowMetric = "tokengate_metrics_overflow_total";

enum class StoreKind : uint8_t { Memory, Redis, RedisCluster };
std::string_view storeKindName(StoreKind k);  // "memory", "redis", "redis_cluster"
enum class StoreOp : uint8_t { Reserve, Settle, Peek, Reset };
std::string_view storeOpName(StoreOp o);  // "reserve", "settle", "peek", "reset"
enum class StoreError : uint8_t { Timeout, Unavailable, Protocol, Full, Other };
std::string_view storeErrorName(StoreError e);  // "timeout", "unavailable", "protocol", ...

// Gauge values of tokengate_circuit_breaker_state.
enum class BreakerState : uint8_t { Closed = 0, HalfOpen = 1, Open = 2 };

// Why a request's usage is the gateway's estimate (label `reason`).
enum class EstimateReason : uint8_t {
  Incomplete,  // the response was cut, failed, or the client left before the usage figure
  Missing,     // the response completed but the provider reported no usage
};
std::string_view estimateReasonName(EstimateReason r);  // "incomplete", "missing"

// Everything the proxy knows about one finished request. Unset optionals record nothing.
struct RequestObservation {
  std::string_view route;     // route name
  std::string_view upstream;  // upstream service name ("" when none was chosen)
  std::string_view consumer;  // consumer name ("" when anonymous)
  std::string_view model;     // model of the request ("" for non-LLM requests)
  int status = 0;             // status sent to the client; 0 = none (the client left first)

  // Token usage, when the request was tracked: provider-reported or estimated (the request's
  // one usage record, core/token_usage.h).
  std::optional<core::TokenUsage> tokens;
  std::optional<EstimateReason> estimated;  // set when any figure is an estimate

  // Admission: the tokens reserved (Admission::reservedTokens) and what settlement charged,
  // when the request reserved any. Overshoot = settled - reserved when positive, refund =
  // reserved - settled when positive.
  std::optional<int64_t> reservedTokens;
  int64_t settledTokens = 0;

  // Timings from the moment the request was sent upstream. upstreamFirstByte: the response
  // head arrived. firstToken (streaming only): the first event carrying output arrived.
  // upstreamDuration: the response ended. Output tokens per second is
  // tokens.output / (upstreamDuration - firstToken), recorded when all three are set.
  std::optional<std::chrono::nanoseconds> upstreamFirstByte;
  std::optional<std::chrono::nanoseconds> firstToken;
  std::optional<std::chrono::nanoseconds> upstreamDuration;
};

// Label values another module owns, which the catalog creates at 0 the first time it sees
// their other labels, so that rate() and absent() work before the first event (the limiter's
// decisions and store-failure modes; the app passes them in).
struct Vocabulary {
  std::vector<std::string> decisions;     // tokengate_ratelimit_decisions_total{decision}
  std::vector<std::string> failureModes;  // tokengate_store_failure_policy_total{mode}
};

// The families, as references into the catalog's own Registry (STYLE.md §14).
class Catalog {
 public:
  explicit Catalog(std::string_view version, Vocabulary vocabulary = {});
  const Vocabulary& vocabulary() const { return vocabulary_; }
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  Registry& registry() { return registry_; }
  const Registry& registry() const { return registry_; }

  // Any thread; a rare control-path event, so it resolves the series every call.
  void setBreakerState(std::string_view upstream, BreakerState s);

 private:
  Registry registry_;
  Vocabulary vocabulary_;

 public:
  CounterFamily& requests;                 // tokengate_requests_total
  CounterFamily& tokens;                   // tokengate_tokens_total
  CounterFamily& decisions;                // tokengate_ratelimit_decisions_total
  CounterFamily& reservedTokens;           // tokengate_ratelimit_reserved_tokens_total
  CounterFamily& settledTokens;            // tokengate_ratelimit_settled_tokens_total
  HistogramFamily& overshoot;              // tokengate_ratelimit_overshoot_tokens
  HistogramFamily& refund;                 // tokengate_ratelimit_refund_tokens
  CounterFamily& estimatedUsage;           // tokengate_usage_estimated_total
  HistogramFamily& storeDuration;          // tokengate_store_duration_seconds
  CounterFamily& storeErrors;              // tokengate_store_errors_total
  CounterFamily& failurePolicy;            // tokengate_store_failure_policy_total
  HistogramFamily& upstreamFirstByte;      // tokengate_upstream_first_byte_seconds
  HistogramFamily& timeToFirstToken;       // tokengate_time_to_first_token_seconds
  HistogramFamily& outputTokensPerSecond;  // tokengate_output_tokens_per_second
  GaugeFamily& breakerState;               // tokengate_circuit_breaker_state
  GaugeFamily& buildInfo;                  // tokengate_build_info
};

// Per-thread front of the catalog for the request path (see the header comment).
class Recorder {
 public:
  explicit Recorder(Catalog& catalog) : catalog_(catalog) {}
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  void recordRequest(const RequestObservation& obs);
  // One rate-limit decision for one (policy, rule); the caller chooses which rules to report
  // (every matched rule when allowed; the decisive one when rejected). `decision` is the
  // limiter's own name for it (limiter::outcomeName: "allowed", "rejected", ...): the
  // vocabulary belongs to the limiter, the catalog only counts it.
  void recordDecision(std::string_view policy, std::string_view rule, std::string_view decision);
  // One store call: its latency, and its error if it failed.
  void recordStore(StoreKind kind, StoreOp op, std::chrono::nanoseconds elapsed,
                   std::optional<StoreError> error);
  // The store could not decide and `policy` applied its store_failure mode (the limiter's
  // name for it: "open", "closed", "local").
  void recordFailurePolicy(std::string_view policy, std::string_view mode);

 private:
  struct RequestHandles {
    Counter requests;
    Counter input, cachedInput, cacheWriteInput, output, reasoning;
    Counter reserved, settled;
    Histogram overshoot, refund;
    Counter estimated[2];
    Histogram firstByte, firstToken, tokensPerSecond;
  };
  const RequestHandles& requestHandles(const RequestObservation& obs);

  template <class V>
  using Cache = std::unordered_map<std::string, V>;

  Catalog& catalog_;
  std::string key_;  // scratch for cache keys
  Cache<RequestHandles> requests_;
  Cache<Counter> decisions_;  // policy, rule, decision
  Cache<Counter> failures_;   // policy, mode
  std::array<std::array<Histogram, 4>, 3> storeDuration_;
  std::array<std::array<std::array<Counter, 5>, 4>, 3> storeErrors_;
};

}  // namespace tg::metrics
