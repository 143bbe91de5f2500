#include "limiter/stats.h"

#include <algorithm>
#include <vector>

#include "limiter/rejection.h"

namespace tg::limiter {

namespace {

// A request's overshoot or refund is at most a few max_tokens.
// (Built on use: a registration from a static initialiser elsewhere must not see it empty.)
std::vector<double> tokenBounds() {
  return {1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000};
}

// From a refill's few milliseconds to a long max_wait.
std::vector<double> waitBounds() {
  return {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
}

}  // namespace

LimiterStats::LimiterStats(metrics::Registry& r)
    : decisions(r.counter({"tokengate_ratelimit_decisions_total",
                           "Rate-limit decisions by policy, rule and decision.",
                           {"policy", "rule", "decision"},
                           kMaxDecisionSeries})),
      reservedTokens(r.counter({"tokengate_ratelimit_reserved_tokens_total",
                                "Tokens reserved at admission, by route.",
                                {"route"},
                                kMaxRouteSeries})),
      settledTokens(r.counter({"tokengate_ratelimit_settled_tokens_total",
                               "Tokens charged at settlement, by route.",
                               {"route"},
                               kMaxRouteSeries})),
      overshoot(r.histogram({"tokengate_ratelimit_overshoot_tokens",
                             "Settled minus reserved tokens, for requests that used more than "
                             "they reserved, by route.",
                             {"route"},
                             kMaxRouteSeries},
                            tokenBounds())),
      refund(r.histogram({"tokengate_ratelimit_refund_tokens",
                          "Reserved minus settled tokens, for requests that used less than "
                          "they reserved, by route.",
                          {"route"},
                          kMaxRouteSeries},
                         tokenBounds())),
      failures(r.counter({"tokengate_store_failure_policy_total",
                          "Requests for which the store could not decide and a policy applied "
                          "its store_failure mode, by policy and mode.",
                          {"policy", "mode"},
                          kMaxFailureSeries})),
      queueDepth(r.gauge({"tokengate_ratelimit_queue_depth",
                          "Requests waiting in the admission queues of a policy (on_limit: "
                          "queue), all workers.",
                          {"policy"},
                          kMaxFailureSeries})),
      queueResults(r.counter({"tokengate_ratelimit_queue_total",
                              "Requests that met an admission queue, by how their wait ended: "
                              "admitted, timeout (max_wait), full (max_queued), too_long (the "
                              "wait would exceed max_wait), gone (the client left), rejected "
                              "(by a limit that does not queue).",
                              {"policy", "result"},
                              kMaxFailureSeries})),
      queueWait(r.histogram({"tokengate_ratelimit_queue_wait_seconds",
                             "Time requests waited in an admission queue, by policy.",
                             {"policy"},
                             kMaxFailureSeries},
                            waitBounds())) {}

LimiterStats::Route LimiterStats::route(std::string_view route) {
  return Route{reservedTokens.labels({route}), settledTokens.labels({route}),
               overshoot.labels({route}), refund.labels({route})};
}

void LimiterStats::Route::record(int64_t reservedN, int64_t settledN) const {
  reserved.inc(static_cast<uint64_t>(std::max<int64_t>(reservedN, 0)));
  settled.inc(static_cast<uint64_t>(std::max<int64_t>(settledN, 0)));
  if (settledN > reservedN) {
    overshoot.observe(static_cast<double>(settledN - reservedN));
  } else if (reservedN > settledN) {
    refund.observe(static_cast<double>(reservedN - settledN));
  }
}

metrics::Counter LimiterStats::decision(std::string_view policy, std::string_view rule, Outcome o) {
  for (const std::string& d : decisionNames()) {
    decisions.labels({policy, rule, d});  // the rule's other decisions start at 0
  }
  return decisions.labels({policy, rule, outcomeName(o)});
}

metrics::Counter LimiterStats::failurePolicy(std::string_view policy, StoreFailureMode mode) {
  for (const std::string& m : storeFailureModeNames()) {
    failures.labels({policy, m});
  }
  return failures.labels({policy, storeFailureModeName(mode)});
}

}  // namespace tg::limiter
