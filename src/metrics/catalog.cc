#include "metrics/catalog.h"

#include <algorithm>
#include <charconv>

namespace tg::metrics {

namespace {

// Bucket bounds. Tokens: a request's overshoot or refund is at most a few max_tokens.
const std::vector<double> kTokenBuckets = {1,    10,   50,    100,   250,   500,    1000,
                                           2500, 5000, 10000, 25000, 50000, 100000, 250000};
// A memory-store call is ~100 ns, a Redis round trip ~100 us to a few ms.
const std::vector<double> kStoreSeconds = {0.00001, 0.00005, 0.0001, 0.00025, 0.0005,
                                           0.001,   0.0025,  0.005,  0.01,    0.025,
                                           0.05,    0.1,     0.25,   0.5,     1};
const std::vector<double> kFirstByteSeconds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                               1,     2.5,  5,     10,   30,  60,   120};
const std::vector<double> kFirstTokenSeconds = {0.05, 0.1, 0.25, 0.5, 0.75, 1,  1.5,
                                                2,    3,   5,    10,  20,   30, 60};
const std::vector<double> kTokensPerSecond = {1,   5,   10,  20,  30,  50,   75,
                                              100, 150, 200, 300, 500, 1000, 2000};

RegistryOptions catalogOptions() {
  RegistryOptions o;
  o.overflowMetric = std::string(kOverflowMetric);
  return o;
}

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// Appends the parts joined by '\0' (label values are sanitized later; the key only needs to
// be unambiguous, and '\0' cannot appear in a name from the config).
void makeKey(std::string& key, std::initializer_list<std::string_view> parts) {
  key.clear();
  for (const std::string_view p : parts) {
    key.append(p);
    key += '\0';
  }
}

template <class Map, class Make>
auto& cached(Map& map, const std::string& key, Make make) {
  if (auto it = map.find(key); it != map.end()) {
    return it->second;
  }
  if (map.size() >= kRecorderCacheEntries) {
    map.clear();  // a worker that saw this many tuples starts over rather than grow
  }
  return map.emplace(key, make()).first->second;
}

}  // namespace

std::string_view storeKindName(StoreKind k) {
  switch (k) {
    case StoreKind::Memory:
      return "memory";
    case StoreKind::Redis:
      return "redis";
    case StoreKind::RedisCluster:
      return "redis_cluster";
  }
  return "unknown";
}

std::string_view storeOpName(StoreOp o) {
  switch (o) {
    case StoreOp::Reserve:
      return "reserve";
    case StoreOp::Settle:
      return "settle";
    case StoreOp::Peek:
      return "peek";
    case StoreOp::Reset:
      return "reset";
  }
  return "unknown";
}

std::string_view storeErrorName(StoreError e) {
  switch (e) {
    case StoreError::Timeout:
      return "timeout";
    case StoreError::Unavailable:
      return "unavailable";
    case StoreError::Protocol:
      return "protocol";
    case StoreError::Full:
      return "full";
    case StoreError::Other:
      return "other";
  }
  return "unknown";
}

std::string_view estimateReasonName(EstimateReason r) {
  switch (r) {
    case EstimateReason::Incomplete:
      return "incomplete";
    case EstimateReason::Missing:
      return "missing";
  }
  return "unknown";
}

// ---- Catalog: the families as data ---------------------------------------------------------

Catalog::Catalog(std::string_view version, Vocabulary vocabulary)
    : registry_(catalogOptions()),
      vocabulary_(std::move(vocabulary)),
      requests(registry_.counter(
          {"tokengate_requests_total",
           "Requests answered, by route, upstream, consumer, model and HTTP status (0: the "
           "client left before a response).",
           {"route", "upstream", "consumer", "model", "status"},
           kMaxRequestSeries})),
      tokens(registry_.counter(
          {"tokengate_tokens_total",
           "Tokens consumed, by consumer, model and kind (input includes cached and "
           "cache_write; output includes reasoning).",
           {"consumer", "model", "kind"},
           kMaxTokenSeries})),
      decisions(registry_.counter({"tokengate_ratelimit_decisions_total",
                                   "Rate-limit decisions by policy, rule and decision.",
                                   {"policy", "rule", "decision"},
                                   kMaxDecisionSeries})),
      reservedTokens(registry_.counter({"tokengate_ratelimit_reserved_tokens_total",
                                        "Tokens reserved at admission, by route.",
                                        {"route"},
                                        kMaxRouteSeries})),
      settledTokens(registry_.counter({"tokengate_ratelimit_settled_tokens_total",
                                       "Tokens charged at settlement, by route.",
                                       {"route"},
                                       kMaxRouteSeries})),
      overshoot(registry_.histogram({"tokengate_ratelimit_overshoot_tokens",
                                     "Settled minus reserved tokens, for requests that used "
                                     "more than they reserved, by route.",
                                     {"route"},
                                     kMaxRouteSeries},
                                    kTokenBuckets)),
      refund(registry_.histogram({"tokengate_ratelimit_refund_tokens",
                                  "Reserved minus settled tokens, for requests that used less "
                                  "than they reserved, by route.",
                                  {"route"},
                                  kMaxRouteSeries},
                                 kTokenBuckets)),
      estimatedUsage(registry_.counter(
          {"tokengate_usage_estimated_total",
           "Requests whose usage is the gateway's estimate, by route and reason (incomplete: "
           "cut or abandoned; missing: the provider reported none).",
           {"route", "reason"},
           kMaxEstimateSeries})),
      storeDuration(registry_.histogram({"tokengate_store_duration_seconds",
                                         "Latency of limit-store calls, by store and operation.",
                                         {"store", "op"},
                                         kMaxStoreSeries},
                                        kStoreSeconds)),
      storeErrors(registry_.counter({"tokengate_store_errors_total",
                                     "Failed limit-store calls, by store, operation and error.",
                                     {"store", "op", "error"},
                                     kMaxStoreSeries * 4})),
      failurePolicy(registry_.counter(
          {"tokengate_store_failure_policy_total",
           "Requests for which the store could not decide and a policy applied its "
           "store_failure mode, by policy and mode.",
           {"policy", "mode"},
           kMaxFailureSeries})),
      upstreamFirstByte(registry_.histogram(
          {"tokengate_upstream_first_byte_seconds",
           "Time from sending the request upstream to the response head, by upstream.",
           {"upstream"},
           kMaxUpstreamSeries},
          kFirstByteSeconds)),
      timeToFirstToken(registry_.histogram(
          {"tokengate_time_to_first_token_seconds",
           "Streaming responses: time from sending the request upstream to the first output "
           "event, by upstream and model.",
           {"upstream", "model"},
           kMaxUpstreamModelSeries},
          kFirstTokenSeconds)),
      outputTokensPerSecond(registry_.histogram(
          {"tokengate_output_tokens_per_second",
           "Streaming responses: output tokens per second after the first token, by upstream "
           "and model.",
           {"upstream", "model"},
           kMaxUpstreamModelSeries},
          kTokensPerSecond)),
      breakerState(registry_.gauge({"tokengate_circuit_breaker_state",
                                    "Circuit breaker state by upstream: 0 closed, 1 half-open, "
                                    "2 open.",
                                    {"upstream"},
                                    kMaxUpstreamSeries})),
      buildInfo(registry_.gauge({"tokengate_build_info",
                                 "Always 1; the version of the running binary as a label.",
                                 {"version"},
                                 1})) {
  buildInfo.labels({version}).set(1);
}

void Catalog::setBreakerState(std::string_view upstream, BreakerState s) {
  breakerState.labels({upstream}).set(static_cast<double>(s));
}

// ---- Recorder ------------------------------------------------------------------------------

const Recorder::RequestHandles& Recorder::requestHandles(const RequestObservation& obs) {
  char statusBuf[12];
  const auto r = std::to_chars(statusBuf, statusBuf + sizeof statusBuf, obs.status);
  const std::string_view status(statusBuf, static_cast<size_t>(r.ptr - statusBuf));
  makeKey(key_, {obs.route, obs.upstream, obs.consumer, obs.model, status});
  return cached(requests_, key_, [&] {
    Catalog& c = catalog_;
    RequestHandles h;
    h.requests = c.requests.labels({obs.route, obs.upstream, obs.consumer, obs.model, status});
    h.input = c.tokens.labels({obs.consumer, obs.model, "input"});
    h.cachedInput = c.tokens.labels({obs.consumer, obs.model, "cached"});
    h.cacheWriteInput = c.tokens.labels({obs.consumer, obs.model, "cache_write"});
    h.output = c.tokens.labels({obs.consumer, obs.model, "output"});
    h.reasoning = c.tokens.labels({obs.consumer, obs.model, "reasoning"});
    h.reserved = c.reservedTokens.labels({obs.route});
    h.settled = c.settledTokens.labels({obs.route});
    h.overshoot = c.overshoot.labels({obs.route});
    h.refund = c.refund.labels({obs.route});
    h.estimated[0] = c.estimatedUsage.labels({obs.route, "incomplete"});
    h.estimated[1] = c.estimatedUsage.labels({obs.route, "missing"});
    h.firstByte = c.upstreamFirstByte.labels({obs.upstream});
    h.firstToken = c.timeToFirstToken.labels({obs.upstream, obs.model});
    h.tokensPerSecond = c.outputTokensPerSecond.labels({obs.upstream, obs.model});
    return h;
  });
}

void Recorder::recordRequest(const RequestObservation& obs) {
  const RequestHandles& h = requestHandles(obs);
  h.requests.inc();
  if (obs.tokens) {
    const auto addIf = [](const Counter& c, uint64_t n) {
      if (n > 0) {
        c.inc(n);
      }
    };
    addIf(h.input, obs.tokens->inputTokens);
    addIf(h.cachedInput, obs.tokens->cachedInputTokens);
    addIf(h.cacheWriteInput, obs.tokens->cacheWriteInputTokens);
    addIf(h.output, obs.tokens->outputTokens);
    addIf(h.reasoning, obs.tokens->reasoningTokens);
  }
  if (obs.estimated) {
    h.estimated[*obs.estimated == EstimateReason::Incomplete ? 0 : 1].inc();
  }
  if (obs.reservedTokens) {
    const int64_t reserved = *obs.reservedTokens;
    const int64_t settled = obs.settledTokens;
    h.reserved.inc(static_cast<uint64_t>(std::max<int64_t>(reserved, 0)));
    h.settled.inc(static_cast<uint64_t>(std::max<int64_t>(settled, 0)));
    if (settled > reserved) {
      h.overshoot.observe(static_cast<double>(settled - reserved));
    } else if (reserved > settled) {
      h.refund.observe(static_cast<double>(reserved - settled));
    }
  }
  if (obs.upstreamFirstByte) {
    h.firstByte.observe(seconds(*obs.upstreamFirstByte));
  }
  if (obs.firstToken) {
    h.firstToken.observe(seconds(*obs.firstToken));
    if (obs.upstreamDuration && obs.tokens && obs.tokens->outputTokens > 0 &&
        *obs.upstreamDuration > *obs.firstToken) {
      h.tokensPerSecond.observe(static_cast<double>(obs.tokens->outputTokens) /
                                seconds(*obs.upstreamDuration - *obs.firstToken));
    }
  }
}

void Recorder::recordDecision(std::string_view policy, std::string_view rule,
                              std::string_view decision) {
  makeKey(key_, {policy, rule, decision});
  cached(decisions_, key_, [&] {
    for (const std::string& d : catalog_.vocabulary().decisions) {
      catalog_.decisions.labels({policy, rule, d});  // the rule's other decisions start at 0
    }
    return catalog_.decisions.labels({policy, rule, decision});
  }).inc();
}

void Recorder::recordStore(StoreKind kind, StoreOp op, std::chrono::nanoseconds elapsed,
                           std::optional<StoreError> error) {
  const auto k = static_cast<size_t>(kind);
  const auto o = static_cast<size_t>(op);
  Histogram& h = storeDuration_[k][o];
  if (!h) {
    h = catalog_.storeDuration.labels({storeKindName(kind), storeOpName(op)});
  }
  h.observe(seconds(elapsed));
  if (error) {
    Counter& c = storeErrors_[k][o][static_cast<size_t>(*error)];
    if (!c) {
      c = catalog_.storeErrors.labels(
          {storeKindName(kind), storeOpName(op), storeErrorName(*error)});
    }
    c.inc();
  }
}

void Recorder::recordFailurePolicy(std::string_view policy, std::string_view mode) {
  makeKey(key_, {policy, mode});
  cached(failures_, key_, [&] {
    for (const std::string& m : catalog_.vocabulary().failureModes) {
      catalog_.failurePolicy.labels({policy, m});
    }
    return catalog_.failurePolicy.labels({policy, mode});
  }).inc();
}

}  // namespace tg::metrics
