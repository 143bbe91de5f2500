// Quota and admission: the limiter's decision for one request, and its answer when it says no
// (pipeline.h). Which buckets, how much and what to say are limiter/'s; this file gathers the
// request's facts, waits for a networked store, and writes 429 / 503.

#include <algorithm>
#include <boost/asio/this_coro.hpp>
#include <functional>

#include "core/strings.h"
#include "limiter/headers.h"
#include "limiter/rejection.h"
#include "proxy/errors.h"
#include "proxy/pipeline.h"
#include "proxy/router.h"

namespace tg::proxy {

http::Task<void> awaitStart(const std::function<bool(std::function<void()>)>& start) {
  namespace net = http::net;
  auto initiate = [&](auto handler) {
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    std::function<void()> done = [h]() mutable { std::move (*h)(); };
    if (start(std::move(done))) {
      std::move (*h)();  // resumes the coroutine right away (dispatched on its own executor)
    }
  };
  co_await net::async_initiate<decltype(net::use_awaitable), void()>(initiate, net::use_awaitable);
}

http::Task<void> reserveOn(store::Store& store, const limiter::Admission::ReserveCall& rc,
                           store::TimePoint now) {
  if (store.decidesInline()) {
    store.reserveInto(rc.buckets, rc.amounts, rc.mode, now, *rc.out);
    co_return;
  }
  std::function<bool(std::function<void()>)> start = [&](std::function<void()> done) {
    return store.reserveStart(rc.buckets, rc.amounts, rc.mode, now, *rc.out, std::move(done));
  };
  co_await awaitStart(start);
}

namespace {

// The request's facts for rule matching. The client IP is the peer, or with trusted proxies
// the last untrusted address of X-Forwarded-For (every such header, in order).
limiter::RequestFacts factsOf(const ClientConn& c, Exchange& x) {
  limiter::RequestFacts f;
  f.consumer = x.consumer;
  f.apiKeyId = x.apiKeyId;
  f.header = [&x](std::string_view n) { return http::headerValue(x.req.headers, n); };
  f.query = targetQuery(x.req.target);
  f.cookies = x.req.header("cookie");
  f.model = x.acct->request()->model;
  f.route = x.route->name;
  const unsigned trusted = x.cfg().server.trustedProxies;
  if (trusted == 0) {
    f.clientIp = c.clientIp;  // already normalised (IPv4-mapped IPv6 as IPv4)
    return f;
  }
  std::string xff;
  for (const auto& h : x.req.headers) {
    if (core::iequals(h.name, "x-forwarded-for")) {
      xff += xff.empty() ? "" : ",";
      xff.append(h.value);
    }
  }
  if (auto addr = limiter::clientIpFrom(c.clientIp, xff, trusted)) {
    x.clientIpForLimits = limiter::formatIp(*addr);
    f.clientIp = x.clientIpForLimits;
  }
  return f;
}

// The 429 (or the policy's code) / 503 of a rejected admission, with the x-ratelimit-* and
// retry headers. Higress's rejected_msg is sent as configured (JSON when it looks like JSON).
// `note`: what the admission queue adds to the message (why the request did not wait).
std::string rejectionResponse(const Exchange& x, std::string_view note) {
  const limiter::Admission& a = x.admission;
  const limiter::Policy& policy = x.policies().policies[a.decisive()->policyIndex];
  const bool close = !x.keepAlive;
  if (a.outcome() == limiter::Outcome::StoreUnavailable) {
    std::string body =
        errorBody(x.dialect, 503, name(x.error), limiter::rejectionMessage(a, x.policies()));
    return httpResponse(503, "application/json", body, x.requestId(), close, x.limitHeaders);
  }
  const int status = static_cast<int>(policy.rejectedCode);
  if (!policy.rejectedMsg.empty()) {
    const char first = policy.rejectedMsg.front();
    std::string_view type =
        (first == '{' || first == '[') ? "application/json" : "text/plain; charset=utf-8";
    return httpResponse(status, type, policy.rejectedMsg, x.requestId(), close, x.limitHeaders);
  }
  std::string msg = limiter::rejectionMessage(a, x.policies());
  msg.append(note);
  std::string body =
      errorBody(x.dialect, status, "rate_limit_exceeded", msg, limiter::rejectionType(a));
  return httpResponse(status, "application/json", body, x.requestId(), close, x.limitHeaders);
}

// The rest of an admission begun with begin(): inline, or awaiting a networked store.
http::Task<void> decide(limiter::Admission& a, const Services& s, store::TimePoint now) {
  if (s.store.decidesInline()) {
    a.decideInline(s.store, s.localStore, now);
    co_return;
  }
  // (No variable is declared in a loop condition around a co_await: GCC 12 miscompiles those.)
  for (;;) {
    std::optional<limiter::Admission::ReserveCall> call = a.next();
    if (!call) {
      break;
    }
    co_await reserveOn(s.store, *call, now);
    a.reserved(s.store, s.localStore, now);
  }
}

// A matched bucket of a queueing policy that has waiters: a new request joins its queue
// instead of trying first, so that it cannot take the refill from them.
std::optional<size_t> bucketWithWaiters(const limiter::Admission& a, const limiter::PolicySet& set,
                                        const AdmissionQueues& queues) {
  const std::vector<limiter::MatchedBucket>& m = a.matched();
  for (size_t i = 0; i < m.size(); ++i) {
    if (set.policies[m[i].policyIndex].queue && !m[i].shadow && queues.has(m[i].spec.key)) {
      return i;
    }
  }
  return std::nullopt;
}

// A rejection that may wait: over a limit of a queueing policy (not too large, not a store
// failure).
bool queueable(const limiter::Admission& a, const limiter::PolicySet& set) {
  const limiter::MatchedBucket* d = a.decisive();
  return a.outcome() == limiter::Outcome::Rejected && d != nullptr &&
         set.policies[d->policyIndex].queue && !d->shadow;
}

enum class Queued : uint8_t {
  Admitted,  // admitted after waiting (or at the last try)
  Rejected,  // the admission holds a rejection to answer; `note` says why it did not wait
  Gone,      // the client closed its connection while waiting: nothing to answer
};

// on_limit: queue (proxy/admission_queue.h). The request waits in the queue of matched bucket
// `at` (nullopt: the bucket that just rejected it) and tries again at each turn, until it is
// admitted, the wait ends (max_wait, or refused at once: max_queued, a wait longer than
// max_wait), or the client leaves. A waiter holds no reservation, so leaving charges nothing.
http::Task<Queued> waitInQueue(ClientConn& c, Exchange& x, const Services& s,
                               const limiter::RequestFacts& facts, const limiter::Demand& demand,
                               std::optional<size_t> at, std::string& note) {
  namespace net = http::net;
  const limiter::PolicySet& set = x.policies();
  limiter::Admission& a = x.admission;
  AdmissionQueues& queues = *s.queues;
  const net::any_io_executor ex = co_await net::this_coro::executor;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string_view fairKey =
      x.consumer != nullptr ? std::string_view(x.consumer->name)
      : x.clientIpForLimits.empty() ? std::string_view(c.clientIp)
                                    : std::string_view(x.clientIpForLimits);
  auto finish = [&](std::string_view result) {
    x.queueResult = result;
    x.queuedMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count();
  };
  for (;;) {  // one pass per bucket the request queues for
    const size_t index = at ? *at : a.decisiveIndex();
    const limiter::MatchedBucket& b = a.matched()[index];
    const limiter::Policy& p = set.policies[b.policyIndex];
    const store::BucketSpec spec = b.spec;  // the admission's vectors change at each try
    AdmissionQueues::Ask ask;
    ask.bucket = &spec;
    ask.fairKey = fairKey;
    ask.weight = p.priorityOf(x.consumer);
    ask.cost = static_cast<uint64_t>(std::max<int64_t>(a.amountOf(index), 0));
    ask.retryIn = at ? std::chrono::milliseconds(0) : a.retryIn();
    ask.maxQueued = p.maxQueued;
    ask.maxWait = p.maxWait;
    AdmissionQueues::Joined j = queues.join(ask, ex);
    if (!j.waiter) {
      if (at) {
        // Joined without trying, and the queue will not take it: tried as if nobody waited.
        at.reset();
        co_await decide(a, s, std::chrono::system_clock::now());
        if (!a.rejected()) {
          co_return Queued::Admitted;
        }
        if (queueable(a, set)) {
          continue;
        }
        co_return Queued::Rejected;
      }
      const bool full = j.refused == AdmissionQueues::Refusal::Full;
      note = full ? " " + std::to_string(p.maxQueued) +
                        " requests already wait for this limit (max_queued)."
                  : " Waiting for it would take " + limiter::formatGoDuration(j.wait) +
                        ", longer than max_wait (" + limiter::formatGoDuration(p.maxWait) + ").";
      a.setRetryIn(j.wait);
      finish(full ? "full" : "too_long");
      if (s.recorder != nullptr) {
        s.recorder->recordQueue(p.name, x.queueResult, 0);
      }
      co_return Queued::Rejected;
    }
    const std::shared_ptr<AdmissionQueues::Waiter> w = std::move(j.waiter);
    if (s.recorder != nullptr) {
      s.recorder->queueDepth(p.name, 1);
    }
    auto leave = [&](bool admitted, std::string_view result) {
      if (admitted) {
        queues.tried(*w, true, std::chrono::milliseconds(0));
      } else {
        queues.leave(*w);
      }
      AdmissionQueues::unwatch(*w);
      finish(result);
      if (s.recorder != nullptr) {
        s.recorder->queueDepth(p.name, -1);
        s.recorder->recordQueue(p.name, result, x.queuedMs / 1000.0);
      }
    };
    for (;;) {  // one pass per turn
      const AdmissionQueues::Wake wake = co_await queues.wait(w, &c.stream);
      if (wake == AdmissionQueues::Wake::Gone) {
        leave(false, "gone");
        co_return Queued::Gone;
      }
      if (!a.begin(set, s.keyCap, facts, demand, std::chrono::system_clock::now())) {
        leave(true, "admitted");
        co_return Queued::Admitted;
      }
      co_await decide(a, s, std::chrono::system_clock::now());
      if (!a.rejected()) {
        leave(true, "admitted");
        co_return Queued::Admitted;
      }
      const bool sameBucket =
          queueable(a, set) && a.matched()[a.decisiveIndex()].spec.key == spec.key;
      if (wake == AdmissionQueues::Wake::Timeout) {
        leave(false, "timeout");
        note = " It waited max_wait (" + limiter::formatGoDuration(p.maxWait) +
               ") in the queue for this limit.";
        co_return Queued::Rejected;
      }
      if (sameBucket) {
        queues.tried(*w, false, a.retryIn());
        continue;
      }
      leave(false, "rejected");
      break;  // refused by another bucket
    }
    if (!queueable(a, set)) {
      co_return Queued::Rejected;
    }
    at.reset();  // wait for the other bucket
  }
}

}  // namespace

// Quota (config `quota:`, store/quota.h): an authenticated consumer on a quota route is
// admitted while its remaining tokens are > 0 (no quota set = unlimited) and charged its usage
// at settle. Over quota: 429 insufficient_quota with x-should-retry: false (OpenAI's own answer
// for an exhausted budget: no wait fixes it). Store failure: open, or 503 when the quota
// section says failure_mode: closed.
http::Task<bool> checkQuota(ClientConn& c, Exchange& x, const Services& s) {
  store::Store* qs = s.quota;
  const config::QuotaConfig& qc = x.cfg().quota;
  if (qs == nullptr || x.consumer == nullptr || !qc.enabled) {
    co_return true;
  }
  if (!qc.routes.empty() &&
      std::find(qc.routes.begin(), qc.routes.end(), x.route->name) == qc.routes.end()) {
    co_return true;
  }
  x.quota.reset();
  if (qs->decidesInline()) {
    store::quotaCheck(*qs, x.consumer->name, x.quota, nullptr);
  } else {
    std::string_view consumer = x.consumer->name;
    // Built in a local: GCC 12 mishandles temporaries inside co_await arguments.
    std::function<bool(std::function<void()>)> start = [&](std::function<void()> done) {
      return store::quotaCheck(*qs, consumer, x.quota, std::move(done));
    };
    co_await awaitStart(start);
  }
  if (!x.quota.ok() && qc.failClosed) {
    co_await sendError(c, x, s, 503, ExchangeError::QuotaStoreUnavailable,
                       "The quota store is unavailable: " + x.quota.error);
    co_return false;
  }
  if (!x.quota.allowed) {
    x.status = 429;
    x.error = ExchangeError::InsufficientQuota;
    x.keepAlive = x.keepAlive && !s.draining;
    std::string msg = "You exceeded your token quota (consumer '" + x.consumer->name +
                      "'): ask an operator to raise it.";
    std::string body = errorBody(x.dialect, 429, name(x.error), msg, "insufficient_quota");
    c.out = httpResponse(429, "application/json", body, x.requestId(), !x.keepAlive,
                         "x-should-retry: false\r\n");
    co_await writeAnswer(c, x);
    co_return false;
  }
  x.quotaCharged = true;
  co_return true;
}

// Admission (limiter/admission.h): one atomic reserve across every bucket of every policy
// that matches. The in-memory store decides inline; a networked store (Redis) answers later
// and its client bounds the wait (command timeout, fail-fast while down), so the await needs
// no deadline of its own. False when the request was rejected (answered here).
http::Task<bool> admit(ClientConn& c, Exchange& x, const Services& s) {
  const limiter::PolicySet& set = x.policies();
  if (set.policies.empty()) {
    co_return true;
  }
  const usage::RequestInfo& info = *x.acct->request();
  const limiter::RequestFacts facts = factsOf(c, x);
  const limiter::Demand demand{info.promptEstimate, info.maxOutputTokens};
  const store::TimePoint now = std::chrono::system_clock::now();
  limiter::Admission& a = x.admission;
  const bool queueing = s.queues != nullptr && set.queueing;
  std::optional<size_t> joinAt;  // a bucket with waiters: join its queue without trying
  if (a.begin(set, s.keyCap, facts, demand, now)) {
    if (queueing && !s.queues->idle()) {
      joinAt = bucketWithWaiters(a, set, *s.queues);
    }
    if (joinAt) {
      // decided by the queue below
    } else if (s.store.decidesInline()) {
      a.decideInline(s.store, s.localStore, now);  // no coroutine frame on the common path
    } else {
      co_await decide(a, s, now);
    }
  }
  std::string note;
  if (joinAt || (queueing && queueable(a, set))) {
    const Queued q = co_await waitInQueue(c, x, s, facts, demand, joinAt, note);
    if (q == Queued::Gone) {
      x.error = ExchangeError::ClientGone;
      x.keepAlive = false;
      co_return false;
    }
  }
  x.limited = a.outcome() != limiter::Outcome::NoLimits;
  a.appendHeaders(x.limitHeaders);
  if (!a.rejected()) {
    if (std::optional<uint64_t> budget = a.outputBudget()) {
      // clamp_max_tokens: the upstream is asked for no more than the consumer has left.
      const uint64_t cap = std::max<uint64_t>(*budget, 1);
      const std::optional<uint64_t> asked = x.acct->request()->maxOutputTokens;
      if ((!asked || *asked > cap) &&
          usage::clampMaxOutputTokens(x.req.body, x.acct->request()->dialect, cap)) {
        x.clampedMaxTokens = cap;
      }
    }
    co_return true;
  }
  const limiter::Outcome outcome = a.outcome();
  const limiter::Policy& policy = set.policies[a.decisive()->policyIndex];
  x.status =
      outcome == limiter::Outcome::StoreUnavailable ? 503 : static_cast<int>(policy.rejectedCode);
  x.error = outcome == limiter::Outcome::TooLarge ? ExchangeError::RequestTooLargeForLimit
            : outcome == limiter::Outcome::StoreUnavailable
                ? ExchangeError::RateLimitStoreUnavailable
                : ExchangeError::RateLimited;
  x.keepAlive = x.keepAlive && !s.draining;
  c.out = rejectionResponse(x, note);
  co_await writeAnswer(c, x);
  co_return false;
}

}  // namespace tg::proxy
