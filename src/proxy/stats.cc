#include "proxy/stats.h"

#include <string>
#include <vector>

namespace tg::proxy {

namespace {

// (Built on use: a registration from a static initialiser elsewhere must not see it empty.)
std::vector<double> firstByteBounds() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
}

std::vector<double> firstTokenBounds() {
  return {0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60};
}

std::vector<double> tokensPerSecondBounds() {
  return {1, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2000};
}

metrics::RegistryOptions registryOptions() {
  metrics::RegistryOptions o;
  o.overflowMetric = std::string(kOverflowMetric);
  return o;
}

}  // namespace

std::string_view estimateReasonName(EstimateReason r) {
  return r == EstimateReason::Incomplete ? "incomplete" : "missing";
}

ProxyStats::ProxyStats(metrics::Registry& r)
    : requests(r.counter({"tokengate_requests_total",
                          "Requests answered, by route, upstream, consumer, model and HTTP "
                          "status (0: the client left before a response).",
                          {"route", "upstream", "consumer", "model", "status"},
                          kMaxRequestSeries})),
      tokens(r.counter({"tokengate_tokens_total",
                        "Tokens consumed, by consumer, model and kind (input includes cached "
                        "and cache_write; output includes reasoning).",
                        {"consumer", "model", "kind"},
                        kMaxTokenSeries})),
      estimatedUsage(r.counter({"tokengate_usage_estimated_total",
                                "Requests whose usage is the gateway's estimate, by route and "
                                "reason (incomplete: cut or abandoned; missing: the provider "
                                "reported none).",
                                {"route", "reason"},
                                kMaxEstimateSeries})),
      streamCuts(r.counter({"tokengate_stream_cuts_total",
                            "Streams the gateway ended because an enforce: stream policy's "
                            "budget ran out, by route.",
                            {"route"},
                            kMaxEstimateSeries})),
      upstreamFirstByte(
          r.histogram({"tokengate_upstream_first_byte_seconds",
                       "Time from sending the request upstream to the response head, by upstream.",
                       {"upstream"},
                       kMaxUpstreamSeries},
                      firstByteBounds())),
      timeToFirstToken(r.histogram({"tokengate_time_to_first_token_seconds",
                                    "Streaming responses: time from sending the request "
                                    "upstream to the first output event, by upstream and model.",
                                    {"upstream", "model"},
                                    kMaxUpstreamModelSeries},
                                   firstTokenBounds())),
      outputTokensPerSecond(r.histogram({"tokengate_output_tokens_per_second",
                                         "Streaming responses: output tokens per second after "
                                         "the first token, by upstream and model.",
                                         {"upstream", "model"},
                                         kMaxUpstreamModelSeries},
                                        tokensPerSecondBounds())),
      breakerState(r.gauge({"tokengate_circuit_breaker_state",
                            "Circuit breaker state by upstream: 0 closed, 1 half-open, 2 open.",
                            {"upstream"},
                            kMaxUpstreamSeries})),
      upstreamInFlight(r.gauge({"tokengate_upstream_in_flight",
                                "Requests in progress at an upstream with max_concurrent or "
                                "max_tokens_in_flight, all workers.",
                                {"upstream"},
                                kMaxUpstreamSeries})),
      upstreamTokensInFlight(r.gauge({"tokengate_upstream_tokens_in_flight",
                                      "Tokens (prompt estimate + output cap) of the requests in "
                                      "progress at a protected upstream.",
                                      {"upstream"},
                                      kMaxUpstreamSeries})),
      upstreamQueued(r.gauge({"tokengate_upstream_queue_depth",
                              "Requests waiting for a protected upstream.",
                              {"upstream"},
                              kMaxUpstreamSeries})),
      upstreamQueueRefused(r.counter({"tokengate_upstream_queue_refused_total",
                                      "Requests refused (503) by a protected upstream's queue, "
                                      "by reason: full (max_queued) or timeout (max_wait).",
                                      {"upstream", "reason"},
                                      kMaxUpstreamSeries})),
      upstreamQueueWait(r.histogram({"tokengate_upstream_queue_wait_seconds",
                                     "Time requests waited for a protected upstream (0 when it "
                                     "had room).",
                                     {"upstream"},
                                     kMaxUpstreamSeries},
                                    firstByteBounds())) {}

void ProxyStats::setBreakerState(std::string_view upstream, BreakerState s) {
  const double v = s == BreakerState::Closed ? 0 : s == BreakerState::HalfOpen ? 1 : 2;
  breakerState.labels({upstream}).set(v);
}

Metrics::Metrics(std::string_view version)
    : registry(registryOptions()), store(registry), limiter(registry), proxy(registry) {
  registry
      .gauge({"tokengate_build_info",
              "Always 1; the version of the running binary as a label.",
              {"version"},
              1})
      .labels({version})
      .set(1);
}

}  // namespace tg::proxy
