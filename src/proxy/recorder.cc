#include "proxy/recorder.h"

#include <charconv>
#include <initializer_list>

#include "limiter/rejection.h"

namespace tg::proxy {

namespace {

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

const Recorder::RequestHandles& Recorder::requestHandles(const RequestObservation& obs) {
  char statusBuf[12];
  const auto r = std::to_chars(statusBuf, statusBuf + sizeof statusBuf, obs.status);
  const std::string_view status(statusBuf, static_cast<size_t>(r.ptr - statusBuf));
  makeKey(key_, {obs.route, obs.upstream, obs.consumer, obs.model, status});
  return cached(requests_, key_, [&] {
    ProxyStats& p = metrics_.proxy;
    RequestHandles h;
    h.requests = p.requests.labels({obs.route, obs.upstream, obs.consumer, obs.model, status});
    h.input = p.tokens.labels({obs.consumer, obs.model, "input"});
    h.cachedInput = p.tokens.labels({obs.consumer, obs.model, "cached"});
    h.cacheWriteInput = p.tokens.labels({obs.consumer, obs.model, "cache_write"});
    h.output = p.tokens.labels({obs.consumer, obs.model, "output"});
    h.reasoning = p.tokens.labels({obs.consumer, obs.model, "reasoning"});
    h.tokens = metrics_.limiter.route(obs.route);
    for (const EstimateReason e : {EstimateReason::Incomplete, EstimateReason::Missing}) {
      h.estimated[static_cast<size_t>(e)] =
          p.estimatedUsage.labels({obs.route, estimateReasonName(e)});
    }
    h.streamCuts = p.streamCuts.labels({obs.route});
    h.firstByte = p.upstreamFirstByte.labels({obs.upstream});
    h.firstToken = p.timeToFirstToken.labels({obs.upstream, obs.model});
    h.tokensPerSecond = p.outputTokensPerSecond.labels({obs.upstream, obs.model});
    return h;
  });
}

void Recorder::recordRequest(const RequestObservation& obs) {
  const RequestHandles& h = requestHandles(obs);
  h.requests.inc();
  if (obs.tokens) {
    const auto addIf = [](const metrics::Counter& c, uint64_t n) {
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
    h.estimated[static_cast<size_t>(*obs.estimated)].inc();
  }
  if (obs.cutByBudget) {
    h.streamCuts.inc();
  }
  if (obs.reservedTokens) {
    h.tokens.record(*obs.reservedTokens, obs.settledTokens);
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

void Recorder::recordDecision(std::string_view policy, std::string_view rule, limiter::Outcome o) {
  makeKey(key_, {policy, rule, limiter::outcomeName(o)});
  cached(decisions_, key_, [&] { return metrics_.limiter.decision(policy, rule, o); }).inc();
}

void Recorder::recordFailurePolicy(std::string_view policy, limiter::StoreFailureMode mode) {
  makeKey(key_, {policy, limiter::storeFailureModeName(mode)});
  cached(failures_, key_, [&] { return metrics_.limiter.failurePolicy(policy, mode); }).inc();
}

void Recorder::recordQueue(std::string_view policy, std::string_view result, double seconds) {
  metrics_.limiter.queueResults.labels({policy, result}).inc();
  if (result != "full" && result != "too_long") {
    metrics_.limiter.queueWait.labels({policy}).observe(seconds);
  }
}

void Recorder::queueDepth(std::string_view policy, int delta) {
  metrics_.limiter.queueDepth.labels({policy}).add(delta);
}

}  // namespace tg::proxy
