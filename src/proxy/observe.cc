// Log: one finished request into the metrics, the access log and the rate-limit event log
// (pipeline.h).

#include "limiter/rejection.h"
#include "proxy/event_ring.h"
#include "proxy/pipeline.h"

namespace tg::proxy {

namespace {

std::chrono::nanoseconds msToNs(double ms) {
  return std::chrono::nanoseconds(static_cast<int64_t>(ms * 1e6));
}

bool isQuotaError(ExchangeError e) {
  return e == ExchangeError::InsufficientQuota || e == ExchangeError::QuotaStoreUnavailable;
}

// Requests, tokens, decisions, reserved vs settled, upstream timings (proxy/recorder.h). The
// store backends record their own calls (store/stats.h).
void recordMetrics(const Exchange& x, const Services& s) {
  Recorder* rec = s.recorder;
  if (rec == nullptr) {
    return;
  }
  RequestObservation obs;
  obs.route = x.route ? std::string_view(x.route->name) : std::string_view();
  obs.upstream = x.upstream ? std::string_view(x.upstream->name) : std::string_view();
  obs.consumer = x.consumer ? std::string_view(x.consumer->name) : std::string_view();
  obs.status = x.status;
  obs.cutByBudget = x.cutByBudget;
  const std::optional<core::TokenUsage>& u = x.usage;
  if (x.llm()) {
    obs.model = x.acct->request()->model;
  }
  if (u && (u->reported || u->estimated)) {
    obs.tokens = *u;
    if (u->estimated) {
      // A stream the gateway ended for the budget is incomplete too (no final usage came).
      obs.estimated = x.error == ExchangeError::None && !x.cutByBudget
                          ? EstimateReason::Missing
                          : EstimateReason::Incomplete;
    }
  }
  if (x.firstByteMs) {
    obs.upstreamFirstByte = msToNs(*x.firstByteMs);
    if (x.upstreamDoneMs) {
      obs.upstreamDuration = msToNs(*x.upstreamDoneMs);
    }
    // Time to first token: streams only (a JSON body's first bytes are its whole answer).
    if (x.firstBodyMs && x.llm() && x.acct->request()->stream) {
      obs.firstToken = msToNs(*x.firstBodyMs);
    }
  }
  if (x.limited) {
    const limiter::Admission& a = x.admission;
    const limiter::Outcome outcome = a.outcome();
    const limiter::PolicySet& set = x.policies();
    if (!a.rejected()) {
      obs.reservedTokens = a.reservedTokens();
      obs.settledTokens = u ? static_cast<int64_t>(u->billed()) : 0;
    }
    const limiter::MatchedBucket* d = a.decisive();
    if (d != nullptr && outcome != limiter::Outcome::Allowed) {
      const limiter::Policy& p = set.policies[d->policyIndex];
      rec->recordDecision(p.name, p.rules[d->ruleIndex].name, outcome);
      if (outcome == limiter::Outcome::StoreFailure ||
          outcome == limiter::Outcome::StoreUnavailable) {
        rec->recordFailurePolicy(p.name, p.storeFailure);
      }
    } else {
      // Allowed: one decision per distinct (policy, rule) the request was counted in.
      const std::vector<limiter::MatchedBucket>& m = a.matched();
      for (size_t i = 0; i < m.size(); ++i) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; ++j) {
          seen = m[j].policyIndex == m[i].policyIndex && m[j].ruleIndex == m[i].ruleIndex;
        }
        if (!seen) {
          const limiter::Policy& p = set.policies[m[i].policyIndex];
          rec->recordDecision(p.name, p.rules[m[i].ruleIndex].name, outcome);
        }
      }
    }
  }
  rec->recordRequest(obs);
}

// One rate-limit event: into the process-wide ring (the admin's live tail, GET /admin/events,
// always) and the rate-limit log file (when enabled).
void emitRateLimit(AccessLog& log, const RateLimitRecord& r) {
  std::string line;
  formatRateLimitRecord(line, r);  // once, for both
  rateLimitEvents().push(line);
  log.recordLine(line);
}

// The rate-limit event log: one line per request the limiter or a quota did not simply allow.
void logRateLimit(const ClientConn& c, const Exchange& x, const Services& s) {
  AccessLog& log = s.rateLimitLog;
  const bool quota = isQuotaError(x.error);
  const limiter::Outcome outcome = x.admission.outcome();
  if (!quota && !x.cutByBudget && x.queueResult.empty() &&
      (!x.limited || outcome == limiter::Outcome::Allowed ||
       outcome == limiter::Outcome::NoLimits)) {
    return;
  }
  RateLimitRecord r;
  r.time = x.wallStart;
  r.requestId = x.requestId();
  r.client = c.clientIp;
  r.route = x.route ? std::string_view(x.route->name) : std::string_view();
  r.consumer = x.consumer ? std::string_view(x.consumer->name) : std::string_view();
  if (x.llm()) {
    r.model = x.acct->request()->model;
  }
  r.status = x.status;
  if (quota) {
    r.decision = name(x.error);
    emitRateLimit(log, r);
    return;
  }
  const limiter::Admission& a = x.admission;
  r.decision = x.cutByBudget              ? std::string_view("stream_cut")
               : x.queueResult == "gone" ? std::string_view("client_gone")
                                         : limiter::outcomeName(outcome);
  const limiter::MatchedBucket* decisive = x.cutByBudget ? a.followRefusedBy() : a.decisive();
  if (const limiter::MatchedBucket* b = decisive) {
    const limiter::Policy& p = x.policies().policies[b->policyIndex];
    r.policy = p.name;
    r.rule = p.rules[b->ruleIndex].name;
    r.value = b->value;
    if (const store::BucketState* st = x.cutByBudget ? nullptr : a.decisiveState()) {
      r.limit = st->limit;
      r.remaining = st->remaining;
    }
  }
  if (a.retryIn().count() > 0) {
    r.retryAfterMs = a.retryIn().count();
  }
  r.reservedTokens = a.reservedTokens();
  if (x.cutByBudget && x.usage) {
    r.relayedTokens = static_cast<int64_t>(x.usage->billed());
  }
  r.queue = x.queueResult;
  r.queuedMs = x.queuedMs;
  emitRateLimit(log, r);
}

void logAccess(const ClientConn& c, const Exchange& x, const Services& s) {
  AccessLog& log = s.accessLog;
  if (!log.enabled()) {
    return;
  }
  AccessRecord r;
  r.start = x.wallStart;
  r.requestId = x.requestId();
  r.client = c.clientIp;
  r.method = x.req.method;
  r.path = x.req.target;
  r.route = x.route ? std::string_view(x.route->name) : std::string_view();
  r.upstream = x.upstream ? std::string_view(x.upstream->name) : std::string_view();
  r.status = x.status;
  r.bytesIn = x.req.wireBytes;
  r.bytesOut = x.bytesOut;
  r.durationMs =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - x.start).count();
  r.upstreamFirstByteMs = x.firstByteMs;
  r.upstreamRequestId = x.upstreamRequestId;
  r.error = name(x.error);
  if (x.llm()) {
    const usage::RequestInfo* info = x.acct->request();
    r.model = info->model;
    r.dialect = usage::dialectName(info->dialect);
    r.stream = info->stream;
    r.usage = x.usage;
    r.streamCut = x.cutByBudget;
  }
  if (x.consumer) {
    r.consumer = x.consumer->name;
  }
  if (x.limited) {
    const limiter::Admission& a = x.admission;
    r.ratelimit = limiter::outcomeName(a.outcome());
    if (const limiter::MatchedBucket* b = a.decisive()) {
      const limiter::Policy& p = x.policies().policies[b->policyIndex];
      r.limitPolicy = p.name;
      r.limitRule = p.rules[b->ruleIndex].name;
    }
    r.reservedTokens = a.reservedTokens();
  }
  r.clampedMaxTokens = x.clampedMaxTokens;
  r.queue = x.queueResult;
  r.queuedMs = x.queuedMs;
  log.record(r);
}

}  // namespace

void observe(const ClientConn& c, const Exchange& x, const Services& s) {
  recordMetrics(x, s);
  logRateLimit(c, x, s);
  logAccess(c, x, s);
}

}  // namespace tg::proxy
