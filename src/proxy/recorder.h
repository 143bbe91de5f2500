#pragma once
// Recorder: one worker's front of the request path's metrics (proxy/stats.h). observe.cc fills
// a RequestObservation at the end of every proxied request and records it in one call:
//
//   Recorder rec(metrics);             // worker: one per thread (metrics outlives it)
//   RequestObservation obs;  obs.route = ...;  rec.recordRequest(obs);
//   rec.recordDecision(policy, rule, outcome);            // limiter::LimiterStats
//   rec.recordFailurePolicy(policy, mode);
//
// Cost: the Recorder keeps the resolved handles of every (route, upstream, consumer, model,
// status) it has seen in a per-thread hash map (kRecorderCacheEntries at most; it starts over
// when full), so a recordRequest() costs one hash lookup plus a relaxed atomic add per updated
// series (see bench/metrics). A new tuple resolves its series once, under the families'
// mutexes. Store calls are not recorded here: the store backends record their own
// (store/stats.h).
//
// Thread safety: a Recorder belongs to one thread (its cache is not synchronized); the series
// it updates are shared and exact across Recorders.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/token_usage.h"
#include "limiter/admission.h"
#include "limiter/policy.h"
#include "proxy/stats.h"

namespace tg::proxy {

inline constexpr size_t kRecorderCacheEntries = 2048;  // per cache of a Recorder (worker)

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
  bool cutByBudget = false;                 // the gateway ended the stream (enforce: stream)

  // Admission: the tokens reserved (Admission::reservedTokens) and what settlement charged,
  // when the request reserved any (limiter::LimiterStats::Route::record).
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

class Recorder {
 public:
  explicit Recorder(Metrics& metrics) : metrics_(metrics) {}
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  void recordRequest(const RequestObservation& obs);
  // One rate-limit decision for one (policy, rule); the caller chooses which rules to report
  // (every matched rule when allowed; the decisive one when rejected).
  void recordDecision(std::string_view policy, std::string_view rule, limiter::Outcome o);
  // The store could not decide and `policy` applied its store_failure mode.
  void recordFailurePolicy(std::string_view policy, limiter::StoreFailureMode mode);
  // The admission queue (on_limit: queue; only requests that queue come here, so the series
  // are resolved per call): a wait that ended with `result` after `seconds`, and the depth.
  void recordQueue(std::string_view policy, std::string_view result, double seconds);
  void queueDepth(std::string_view policy, int delta);

 private:
  struct RequestHandles {
    metrics::Counter requests;
    metrics::Counter input, cachedInput, cacheWriteInput, output, reasoning;
    limiter::LimiterStats::Route tokens;  // reserved vs settled
    metrics::Counter estimated[2];        // by EstimateReason
    metrics::Counter streamCuts;
    metrics::Histogram firstByte, firstToken, tokensPerSecond;
  };
  const RequestHandles& requestHandles(const RequestObservation& obs);

  template <class V>
  using Cache = std::unordered_map<std::string, V>;

  Metrics& metrics_;
  std::string key_;  // scratch for cache keys
  Cache<RequestHandles> requests_;
  Cache<metrics::Counter> decisions_;  // policy, rule, decision
  Cache<metrics::Counter> failures_;   // policy, mode
};

}  // namespace tg::proxy
