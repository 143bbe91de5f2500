// Session: key-auth, admission and settlement of one request (see session.h). The pure parts
// (which key, which consumer, which buckets, how much) are limiter/'s; this file reads the
// request, answers 401 / 429, and settles with token accounting's usage record.

#include <algorithm>
#include <chrono>

#include "core/strings.h"
#include "limiter/headers.h"
#include "limiter/rules.h"
#include "proxy/errors.h"
#include "proxy/exchange.h"
#include "proxy/forward.h"
#include "proxy/router.h"
#include "proxy/worker.h"

namespace tg::proxy {

using http::error_code;

namespace {

// First value of a request header by lower-case name, nullopt when absent.
std::optional<std::string_view> firstHeader(const http::Request& req, std::string_view name) {
  for (const auto& h : req.headers) {
    if (core::iequals(h.name, name)) {
      return h.value;
    }
  }
  return std::nullopt;
}

std::string_view perWindow(std::chrono::milliseconds w) {
  switch (w.count()) {
    case 1'000:
      return "second";
    case 60'000:
      return "minute";
    case 3'600'000:
      return "hour";
    case 86'400'000:
      return "day";
    default:
      return {};
  }
}

// "tokens per minute", "requests per 90s", "concurrent requests".
std::string limitName(const limiter::MatchedBucket& b) {
  if (b.kind == limiter::AmountKind::Concurrency) {
    return "concurrent requests";
  }
  std::string s(limiter::quantityName(b.quantity));
  for (char& c : s) {
    c = c == '_' ? ' ' : c;
  }
  s += " per ";
  std::string_view w = perWindow(b.spec.window);
  if (w.empty()) {
    s += limiter::formatGoDuration(b.spec.window);
  } else {
    s += w;
  }
  return s;
}

}  // namespace

// Per-consumer quota (config `quota:`, store/quota.h): an authenticated consumer on a quota
// route is admitted while its remaining tokens are > 0 (no quota set = unlimited) and charged
// its usage at settle. Over quota: 429 insufficient_quota with x-should-retry: false (OpenAI's
// own answer for an exhausted budget: no wait fixes it). Store failure: open, or 503 when the
// quota section says failure_mode: closed.
http::Task<bool> Session::checkQuota(Exchange& x) {
  store::QuotaStore* qs = worker_.quota();
  const config::QuotaConfig& qc = x.cfg().quota;
  if (qs == nullptr || x.consumer == nullptr || !qc.enabled) {
    co_return true;
  }
  if (!qc.routes.empty() &&
      std::find(qc.routes.begin(), qc.routes.end(), x.route->name) == qc.routes.end()) {
    co_return true;
  }
  x.quotaConsumer = x.consumer->name;
  quotaResult_.reset();
  if (qs->decidesInline()) {
    qs->check(x.consumer->name, quotaResult_, nullptr);
  } else {
    std::string_view name = x.consumer->name;
    // Built in a local: GCC 12 mishandles temporaries inside co_await arguments.
    std::function<bool(std::function<void()>)> start = [&](std::function<void()> done) {
      return qs->check(name, quotaResult_, std::move(done));
    };
    co_await awaitStart(start);
  }
  if (!quotaResult_.ok() && qc.failClosed) {
    x.quotaConsumer.clear();
    std::string msg = "The quota store is unavailable: " + quotaResult_.error;
    co_await sendError(x, 503, "quota_store_unavailable", msg, false);
    co_return false;
  }
  if (quotaResult_.allowed) {
    co_return true;
  }
  x.quotaConsumer.clear();
  x.status = 429;
  x.error = "insufficient_quota";
  x.keepAlive = x.keepAlive && !worker_.draining();
  std::string msg = "You exceeded your token quota (consumer '" + x.consumer->name +
                    "'): ask an operator to raise it.";
  std::string body = errorBody(x.dialect, 429, "insufficient_quota", msg, "insufficient_quota");
  out_ = httpResponse(429, "application/json", body, x.requestId, !x.keepAlive,
                      "x-should-retry: false\r\n");
  co_await writeAnswer(x);
  co_return false;
}

// Runs an operation that completes inline (start returns true) or calls `done` later on this
// thread (store::Store::reserveStart, store::QuotaStore); suspends only in the second case.
http::Task<void> Session::awaitStart(const std::function<bool(std::function<void()>)>& start) {
  namespace net = http::net;
  auto initiate = [&](auto handler) {
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    std::function<void()> done = [h]() mutable { std::move (*h)(); };
    if (start(std::move(done))) {
      std::move(*h)();  // resumes the coroutine right away (dispatched on its own executor)
    }
  };
  co_await net::async_initiate<decltype(net::use_awaitable), void()>(initiate,
                                                                       net::use_awaitable);
}

// Writes out_, a whole answer of the gateway itself, under the idle deadline.
http::Task<void> Session::writeAnswer(Exchange& x) {
  deadline_.expiresAfter(limits_.idleTimeout);
  error_code ec;
  co_await client_.write(http::net::buffer(out_), ec);
  x.bytesOut += out_.size();
  if (ec) {
    x.keepAlive = false;
  }
}

bool Session::authenticate(Exchange& x, bool& presented) {
  const limiter::PolicySet& set = x.policies();
  presented = false;
  if (x.route->keyAuth == config::KeyAuth::Off || set.consumers.empty()) {
    return false;
  }
  auto header = [this](std::string_view n) { return firstHeader(req_, n); };
  limiter::KeySource source;
  std::optional<std::string> key =
      limiter::presentedKey(set.keySources, header, targetQuery(req_.target), &source);
  if (!key) {
    return false;
  }
  presented = true;
  // Clients keep a connection and send the same key on every request: the last lookup of
  // this connection is reused (one SHA-256 and a constant-time scan of every key saved).
  if (authSet_ != x.gen->policies || authKey_ != *key) {
    authSet_ = x.gen->policies;  // held, so a reloaded set can never reuse its address
    authKey_ = *key;
    authMatch_ = limiter::findConsumerByKey(set.consumers, *key);
  }
  const std::optional<limiter::KeyAuthMatch>& m = authMatch_;
  if (!m) {
    return false;
  }
  x.consumer = m->consumer;
  x.apiKeyId = m->key->id;
  switch (source.kind) {
    case limiter::KeySource::Kind::AuthorizationBearer:
      x.keyHeader = "authorization";
      break;
    case limiter::KeySource::Kind::XApiKey:
      x.keyHeader = "x-api-key";
      break;
    case limiter::KeySource::Kind::Header:
      x.keyHeader = core::toLower(source.name);
      break;
    case limiter::KeySource::Kind::QueryParam:
      x.keyParam = source.name;
      break;
  }
  return true;
}

http::Task<bool> Session::authorizeAndAdmit(Exchange& x) {
  bool presented = false;
  if (!authenticate(x, presented) && x.route->keyAuth == config::KeyAuth::Required) {
    std::string msg = presented
                          ? "Incorrect API key provided."
                          : "Missing API key: send it as 'Authorization: Bearer <key>' or in "
                            "the header or parameter this gateway is configured to read.";
    co_await sendError(x, 401, "invalid_api_key", msg, false);
    co_return false;
  }
  // Limits and quotas apply to LLM calls (a known dialect path): a GET /v1/models consumes
  // no tokens.
  if (!x.acct->active()) {
    co_return true;
  }
  bool quotaOk = co_await checkQuota(x);
  if (!quotaOk) {
    co_return false;
  }
  const limiter::PolicySet& set = x.policies();
  if (set.policies.empty()) {
    co_return true;
  }
  const usage::RequestInfo& info = *x.acct->request();
  limiter::RequestFacts facts;
  facts.consumer = x.consumer;
  facts.apiKeyId = x.apiKeyId;
  facts.header = [this](std::string_view n) { return firstHeader(req_, n); };
  facts.query = targetQuery(req_.target);
  facts.cookies = req_.header("cookie");
  facts.model = info.model;
  facts.route = x.route->name;
  std::string ip;
  const unsigned trusted = x.cfg().server.trustedProxies;
  if (trusted == 0) {
    facts.clientIp = clientIp_;  // already normalised (IPv4-mapped IPv6 as IPv4)
  } else {
    std::string xff;
    for (const auto& h : req_.headers) {
      if (core::iequals(h.name, "x-forwarded-for")) {
        xff += xff.empty() ? "" : ",";
        xff.append(h.value);
      }
    }
    if (auto addr = limiter::clientIpFrom(clientIp_, xff, trusted)) {
      ip = limiter::formatIp(*addr);
      facts.clientIp = ip;
    }
  }
  limiter::Demand demand{info.promptEstimate, info.maxOutputTokens};
  storeWait_.reset();
  const store::TimePoint now = std::chrono::system_clock::now();
  store::Store& st = worker_.store();
  if (st.decidesInline()) {
    admission_.admit(set, st, worker_.keyCap(), facts, demand, now, worker_.localStore());
  } else if (admission_.begin(set, worker_.keyCap(), facts, demand, now)) {
    const auto waitStart = std::chrono::steady_clock::now();
    // A networked store (Redis) answers later; its client bounds the wait (command timeout,
    // fail-fast while down), so this await needs no deadline of its own. (No variable is
    // declared in a loop condition around a co_await: GCC 12 miscompiles those.)
    for (;;) {
      std::optional<limiter::Admission::ReserveCall> call = admission_.next();
      if (!call) {
        break;
      }
      limiter::Admission::ReserveCall& c = *call;
      std::function<bool(std::function<void()>)> start = [&](std::function<void()> done) {
        return st.reserveStart(c.buckets, c.amounts, c.mode, now, *c.out, std::move(done));
      };
      co_await awaitStart(start);
      admission_.reserved(st, worker_.localStore(), now);
    }
    storeWait_ = std::chrono::steady_clock::now() - waitStart;
  }
  x.limited = admission_.outcome() != limiter::Outcome::NoLimits;
  admission_.appendHeaders(limitHeaders_);
  if (!admission_.rejected()) {
    co_return true;
  }
  const limiter::MatchedBucket* b = admission_.decisive();
  const limiter::Policy& policy = x.policies().policies[b->policyIndex];
  x.status = admission_.outcome() == limiter::Outcome::StoreUnavailable
                 ? 503
                 : static_cast<int>(policy.rejectedCode);
  const limiter::Outcome outcome = admission_.outcome();
  x.error = outcome == limiter::Outcome::TooLarge           ? "request_too_large_for_limit"
            : outcome == limiter::Outcome::StoreUnavailable ? "ratelimit_store_unavailable"
                                                            : "rate_limited";
  x.keepAlive = x.keepAlive && !worker_.draining();
  out_ = rejectionResponse(x);
  co_await writeAnswer(x);
  co_return false;
}

std::string Session::rejectionResponse(const Exchange& x) {
  const limiter::MatchedBucket& b = *admission_.decisive();
  const limiter::Policy& policy = x.policies().policies[b.policyIndex];
  const int status = static_cast<int>(policy.rejectedCode);
  const bool close = !x.keepAlive;
  if (admission_.outcome() == limiter::Outcome::StoreUnavailable) {
    std::string body = errorBody(x.dialect, 503, "ratelimit_store_unavailable",
                                 "The rate-limit store is unavailable and policy '" +
                                     policy.name + "' fails closed. Retry shortly.");
    return httpResponse(503, "application/json", body, x.requestId, close, limitHeaders_);
  }
  if (!policy.rejectedMsg.empty()) {
    // Higress's rejected_msg, sent as configured: JSON when it looks like JSON.
    const char first = policy.rejectedMsg.front();
    std::string_view type = (first == '{' || first == '[') ? "application/json"
                                                           : "text/plain; charset=utf-8";
    return httpResponse(status, type, policy.rejectedMsg, x.requestId, close, limitHeaders_);
  }
  const limiter::Rule& rule = policy.rules[b.ruleIndex];
  const store::BucketState* st = admission_.decisiveState();
  const uint64_t limit = st ? st->limit : b.spec.limit;
  const int64_t remaining = st ? st->remaining : 0;
  std::string what = limitName(b);
  std::string where = policy.name + "/" + rule.name;
  if (!b.value.empty()) {
    where += " (" + b.value + ")";
  }
  std::string msg;
  const int64_t requested = admission_.decisiveAmount();
  if (admission_.outcome() == limiter::Outcome::TooLarge) {
    msg = "Request too large for " + what + " on " + where + ": Limit " + std::to_string(limit) +
          ", Requested " + std::to_string(requested) +
          ". The input or output tokens must be reduced in order to run successfully.";
  } else {
    const int64_t used = static_cast<int64_t>(limit) - remaining;
    if (st && st->verdict == store::Verdict::Blocked) {
      msg = "Rate limit exceeded for " + what + " on " + where +
            ": blocked for a while after exceeding the limit.";
    } else if (b.kind == limiter::AmountKind::Concurrency) {
      msg = "Too many concurrent requests on " + where + ": Limit " + std::to_string(limit) + ".";
    } else {
      msg = "Rate limit reached for " + what + " on " + where + ": Limit " +
            std::to_string(limit) + ", Used " + std::to_string(used) + ", Requested " +
            std::to_string(requested) + ".";
    }
    if (admission_.retryIn().count() > 0) {
      msg += " Please try again in " + limiter::formatGoDuration(admission_.retryIn()) + ".";
    }
  }
  std::string_view openaiType = b.kind == limiter::AmountKind::Tokens ? "tokens" : "requests";
  std::string body = errorBody(x.dialect, status, "rate_limit_exceeded", msg, openaiType);
  return httpResponse(status, "application/json", body, x.requestId, close, limitHeaders_);
}

void Session::settle(Exchange& x) {
  const std::optional<usage::Usage>& u = x.usage();
  if (x.consumer != nullptr && u && worker_.consumerTotals() != nullptr) {
    worker_.consumerTotals()->add(x.consumer->name, u->inputTokens + u->outputTokens);
  }
  if (!x.quotaConsumer.empty() && u && worker_.quota() != nullptr) {
    const uint64_t used = u->inputTokens + u->outputTokens;
    if (used > 0) {
      worker_.quota()->charge(x.quotaConsumer, static_cast<int64_t>(used));
    }
    x.quotaConsumer.clear();
  }
  if (!x.limited || admission_.settled()) {
    return;
  }
  limiter::TokenCounts actual;
  if (u) {
    actual.input = u->inputTokens;
    actual.cachedInput = u->cachedInputTokens;
    actual.output = u->outputTokens;
  }
  admission_.settle(actual, std::chrono::system_clock::now());
}

}  // namespace tg::proxy

namespace tg::proxy {

namespace {

metrics::Decision decisionOf(limiter::Outcome o) {
  switch (o) {
    case limiter::Outcome::Rejected:
      return metrics::Decision::Rejected;
    case limiter::Outcome::ShadowRejected:
      return metrics::Decision::ShadowRejected;
    case limiter::Outcome::TooLarge:
      return metrics::Decision::TooLarge;
    case limiter::Outcome::StoreFailure:
      return metrics::Decision::StoreFailure;
    case limiter::Outcome::StoreUnavailable:
      return metrics::Decision::StoreUnavailable;
    default:
      return metrics::Decision::Allowed;
  }
}

metrics::FailureMode failureModeOf(limiter::StoreFailureMode m) {
  switch (m) {
    case limiter::StoreFailureMode::Closed:
      return metrics::FailureMode::Closed;
    case limiter::StoreFailureMode::Local:
      return metrics::FailureMode::Local;
    default:
      return metrics::FailureMode::Open;
  }
}

std::chrono::nanoseconds msToNs(double ms) {
  return std::chrono::nanoseconds(static_cast<int64_t>(ms * 1e6));
}

}  // namespace

// The rate-limit event log: one line per request the limiter or a quota did not simply allow.
void Session::logRateLimit(const Exchange& x) {
  AccessLog& log = worker_.rateLimitLog();
  if (!log.enabled()) {
    return;
  }
  const bool quota = x.error == "insufficient_quota" || x.error == "quota_store_unavailable";
  const limiter::Outcome outcome = admission_.outcome();
  if (!quota && (!x.limited || outcome == limiter::Outcome::Allowed ||
                 outcome == limiter::Outcome::NoLimits)) {
    return;
  }
  RateLimitRecord r;
  r.time = x.wallStart;
  r.requestId = x.requestId;
  r.client = clientIp_;
  r.route = x.route ? std::string_view(x.route->name) : std::string_view();
  r.consumer = x.consumer ? std::string_view(x.consumer->name) : std::string_view();
  if (x.acct && x.acct->active()) {
    r.model = x.acct->request()->model;
  }
  r.status = x.status;
  if (quota) {
    r.decision = x.error;
    log.record(r);
    return;
  }
  r.decision = limiter::outcomeName(outcome);
  if (const limiter::MatchedBucket* b = admission_.decisive()) {
    const limiter::Policy& p = x.policies().policies[b->policyIndex];
    r.policy = p.name;
    r.rule = p.rules[b->ruleIndex].name;
    r.value = b->value;
    if (const store::BucketState* st = admission_.decisiveState()) {
      r.limit = st->limit;
      r.remaining = st->remaining;
    }
  }
  if (admission_.retryIn().count() > 0) {
    r.retryAfterMs = admission_.retryIn().count();
  }
  r.reservedTokens = admission_.reservedTokens();
  log.record(r);
}

// One finished request into the metrics (metrics/catalog.h): requests, tokens, decisions,
// reserved vs settled, store wait, upstream timings.
void Session::recordMetrics(const Exchange& x) {
  metrics::Recorder* rec = worker_.recorder();
  if (rec == nullptr) {
    return;
  }
  metrics::RequestObservation obs;
  obs.route = x.route ? std::string_view(x.route->name) : std::string_view();
  obs.upstream = x.upstream ? std::string_view(x.upstream->name) : std::string_view();
  obs.consumer = x.consumer ? std::string_view(x.consumer->name) : std::string_view();
  obs.status = x.status;
  const std::optional<usage::Usage>& u = x.usage();
  if (x.acct && x.acct->active()) {
    obs.model = x.acct->request()->model;
  }
  if (u && (u->reported || u->estimated)) {
    obs.tokens = metrics::RequestObservation::Tokens{u->inputTokens, u->cachedInputTokens,
                                                     u->cacheWriteInputTokens, u->outputTokens,
                                                     u->reasoningTokens};
    if (u->estimated) {
      obs.estimated = x.error.empty() ? metrics::EstimateReason::Missing
                                      : metrics::EstimateReason::Incomplete;
    }
  }
  if (x.firstByteMs) {
    obs.upstreamFirstByte = msToNs(*x.firstByteMs);
    if (x.upstreamDoneMs) {
      obs.upstreamDuration = msToNs(*x.upstreamDoneMs);
    }
    // Time to first token: streams only (a JSON body's first bytes are its whole answer).
    if (x.firstBodyMs && x.acct && x.acct->active() && x.acct->request()->stream) {
      obs.firstToken = msToNs(*x.firstBodyMs);
    }
  }
  if (x.limited) {
    const limiter::Outcome outcome = admission_.outcome();
    const limiter::PolicySet& set = x.policies();
    if (!admission_.rejected()) {
      obs.reservedTokens = admission_.reservedTokens();
      obs.settledTokens = u ? static_cast<int64_t>(u->inputTokens + u->outputTokens) : 0;
    }
    const limiter::MatchedBucket* d = admission_.decisive();
    if (d != nullptr && outcome != limiter::Outcome::Allowed) {
      const limiter::Policy& p = set.policies[d->policyIndex];
      rec->recordDecision(p.name, p.rules[d->ruleIndex].name, decisionOf(outcome));
      if (outcome == limiter::Outcome::StoreFailure ||
          outcome == limiter::Outcome::StoreUnavailable) {
        rec->recordFailurePolicy(p.name, failureModeOf(p.storeFailure));
      }
    } else {
      // Allowed: one decision per distinct (policy, rule) the request was counted in.
      const std::vector<limiter::MatchedBucket>& m = admission_.matched();
      for (size_t i = 0; i < m.size(); ++i) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; ++j) {
          seen = m[j].policyIndex == m[i].policyIndex && m[j].ruleIndex == m[i].ruleIndex;
        }
        if (!seen) {
          const limiter::Policy& p = set.policies[m[i].policyIndex];
          rec->recordDecision(p.name, p.rules[m[i].ruleIndex].name, decisionOf(outcome));
        }
      }
    }
    if (storeWait_) {
      const bool failed = outcome == limiter::Outcome::StoreFailure ||
                          outcome == limiter::Outcome::StoreUnavailable;
      std::optional<metrics::StoreError> err;
      if (failed) {
        err = metrics::StoreError::Unavailable;
      }
      rec->recordStore(x.cfg().store.redis.cluster ? metrics::StoreKind::RedisCluster
                                                   : metrics::StoreKind::Redis,
                       metrics::StoreOp::Reserve, *storeWait_, err);
    }
  }
  rec->recordRequest(obs);
}

}  // namespace tg::proxy
