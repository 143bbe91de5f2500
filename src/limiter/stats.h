#pragma once
// LimiterStats: the rate limiter's metric families (STYLE.md §14), registered once at start-up
// from the app's metrics::Registry. The words they are labelled with are the limiter's own:
// decisions are outcomeName() (limiter/admission.h), modes storeFailureModeName()
// (limiter/rejection.h).
//
//   tokengate_ratelimit_decisions_total{policy,rule,decision}
//   tokengate_ratelimit_reserved_tokens_total{route}, ..._settled_tokens_total{route}
//   tokengate_ratelimit_overshoot_tokens{route}, ..._refund_tokens{route}   (histograms)
//   tokengate_store_failure_policy_total{policy,mode}
//   tokengate_ratelimit_queue_depth{policy}, ..._queue_total{policy,result},
//   ..._queue_wait_seconds{policy}   (on_limit: queue)
//
// decision() and failurePolicy() resolve a series (under the family's mutex) and also create
// the rule's other decisions / the policy's other modes at 0, so that rate() and absent() work
// before the first event; callers on the request path cache the handles they return
// (proxy/recorder.h does, per worker).
//
// Thread safety: safe from any thread. The registry must outlive the stats and every handle.

#include <cstdint>
#include <string_view>

#include "limiter/admission.h"
#include "limiter/policy.h"
#include "metrics/registry.h"

namespace tg::limiter {

// Series caps (docs/metrics.md explains each).
inline constexpr uint32_t kMaxDecisionSeries = 2048;  // policy, rule, decision
inline constexpr uint32_t kMaxRouteSeries = 256;      // per-route token families
inline constexpr uint32_t kMaxFailureSeries = 512;    // policy, mode

struct LimiterStats {
  explicit LimiterStats(metrics::Registry& registry);

  // The handles of one route's reservation accounting.
  struct Route {
    metrics::Counter reserved, settled;
    metrics::Histogram overshoot, refund;
    // One settled request that reserved `reserved` tokens and was charged `settled`:
    // overshoot = settled - reserved when positive, refund = reserved - settled when positive.
    void record(int64_t reserved, int64_t settled) const;
  };
  Route route(std::string_view route);
  // `o` is one of decisionNames() (not NoLimits).
  metrics::Counter decision(std::string_view policy, std::string_view rule, Outcome o);
  metrics::Counter failurePolicy(std::string_view policy, StoreFailureMode mode);

  metrics::CounterFamily& decisions;       // tokengate_ratelimit_decisions_total
  metrics::CounterFamily& reservedTokens;  // tokengate_ratelimit_reserved_tokens_total
  metrics::CounterFamily& settledTokens;   // tokengate_ratelimit_settled_tokens_total
  metrics::HistogramFamily& overshoot;     // tokengate_ratelimit_overshoot_tokens
  metrics::HistogramFamily& refund;        // tokengate_ratelimit_refund_tokens
  metrics::CounterFamily& failures;        // tokengate_store_failure_policy_total
  metrics::GaugeFamily& queueDepth;        // tokengate_ratelimit_queue_depth
  metrics::CounterFamily& queueResults;    // tokengate_ratelimit_queue_total
  metrics::HistogramFamily& queueWait;     // tokengate_ratelimit_queue_wait_seconds
};

}  // namespace tg::limiter
