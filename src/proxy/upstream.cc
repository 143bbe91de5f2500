// Forward: the request to its upstream, under the upstream's circuit breaker, with the route's
// fallback upstream (pipeline.h). The response is then relayed by relay.cc.

#include <algorithm>
#include <array>

#include "limiter/reservation.h"
#include "proxy/errors.h"
#include "proxy/forward.h"
#include "proxy/pipeline.h"
#include "proxy/relay.h"
#include "proxy/router.h"

namespace tg::proxy {

namespace {

using SteadyClock = std::chrono::steady_clock;

// Why an upstream gave no response head: what the client is answered.
struct UpstreamError {
  int status = 502;
  ExchangeError error = ExchangeError::BadUpstreamResponse;
  std::string message;
};

// Connects to upstream `idx` (or reuses an idle pooled connection), sends the request and
// reads the response head into x.resp (with the first body bytes in c.body). A reused
// connection that fails before any response byte was probably closed by the upstream while
// idle: retried once on a fresh connection. On failure the connection is gone and `err` holds
// the answer for the client (502 or 504); nothing was written to the client.
http::Task<bool> openUpstream(ClientConn& c, Exchange& x, size_t idx,
                              std::optional<http::ResponseParser>& parser, UpstreamError& err) {
  const config::UpstreamConfig& up = x.cfg().upstreams[idx];
  http::Upstreams& upstreams = *x.gen->upstreams;
  const bool isHead = x.req.method == "HEAD";
  std::string& target = c.target;
  target.clear();
  appendUpstreamTarget(target, *x.route, up, x.req.target);
  if (!x.keyParam.empty()) {
    removeQueryParam(target, x.keyParam);
  }
  ForwardInfo info{c.clientIp, c.stream.isTls(), x.requestId(), x.cfg().server.trustedProxies,
                   x.llm()};
  info.keyHeader = x.keyHeader;
  info.consumer = x.consumer ? std::string_view(x.consumer->name) : std::string_view();

  for (int attempt = 0;; ++attempt) {
    c.upstream = attempt == 0 ? upstreams.takeIdle(idx) : nullptr;
    const bool reused = c.upstream != nullptr;
    http::error_code ec;
    if (!c.upstream) {
      c.deadline.expiresAfter(up.connectTimeout);
      co_await upstreams.connect(idx, c.upstream, ec);
      if (ec) {
        const bool timedOut = c.deadline.expired();
        c.upstream.reset();
        err.status = timedOut ? 504 : 502;
        err.error = timedOut ? ExchangeError::UpstreamTimeout : ExchangeError::UpstreamUnreachable;
        err.message = timedOut ? "upstream " + up.name + " did not accept the connection in time"
                               : "upstream " + up.name + " is unreachable: " + ec.message();
        co_return false;
      }
    }
    c.out.clear();
    buildUpstreamRequest(c.out, x.req, up, target, info);
    c.deadline.expiresAfter(up.firstByteTimeout);
    co_await c.upstream->stream->write(http::net::buffer(c.out), http::net::buffer(x.req.body), ec);
    parser.emplace(x.resp, isHead, 64 * 1024);
    c.body.clear();
    bool gotBytes = false;
    while (!ec && !parser->headerDone()) {
      http::ReadBuffer& ub = c.upstream->buf;
      size_t n = co_await c.upstream->stream->readSome(ub.prepare(8192), ec);
      if (ec) {
        break;
      }
      if (!gotBytes) {
        gotBytes = true;
        x.firstByteMs = x.msSinceStart();
      }
      ub.commit(n);
      http::error_code pec;
      size_t used = parser->put(ub.view(), &c.body, pec);
      ub.consume(used);
      if (pec && !http::isNeedMore(pec)) {
        c.upstream->stream->close();
        c.upstream.reset();
        err.status = 502;
        err.error = ExchangeError::BadUpstreamResponse;
        err.message = "upstream " + up.name + " sent an invalid response: " + pec.message();
        co_return false;
      }
    }
    if (!ec) {
      co_return true;
    }
    const bool timedOut = c.deadline.expired();
    c.upstream->stream->close();
    c.upstream.reset();
    if (reused && !gotBytes && !timedOut && attempt == 0) {
      continue;
    }
    err.status = timedOut ? 504 : 502;
    err.error = timedOut ? ExchangeError::UpstreamTimeout : ExchangeError::BadUpstreamResponse;
    err.message = timedOut ? "upstream " + up.name + " did not answer in time"
                           : "upstream " + up.name + " closed the connection: " + ec.message();
    co_return false;
  }
}

// 503 in the route's dialect with retry-after: the seconds until the circuit half-opens.
http::Task<void> sendCircuitOpen(ClientConn& c, Exchange& x, const Services& s,
                                 CircuitBreaker::Duration retryAfter) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(retryAfter).count();
  const long long seconds = std::max<long long>(1, (ms + 999) / 1000);
  x.status = 503;
  x.error = ExchangeError::CircuitOpen;
  x.keepAlive = x.keepAlive && !s.draining;
  std::string msg = "upstream " + x.upstream->name +
                    " is failing and its circuit breaker is open. Retry in " +
                    std::to_string(seconds) + "s.";
  std::string body = errorBody(x.dialect, 503, name(x.error), msg);
  std::string headers = "retry-after: " + std::to_string(seconds) + "\r\n";
  c.out = httpResponse(503, "application/json", body, x.requestId(), !x.keepAlive, headers);
  co_await writeAnswer(c, x);
}

// Waits for room at upstream `idx` when it is protected (upstream_gate.h): the request counts
// its prompt estimate + output cap. False: refused (queue full, or max_wait passed), and the
// 503 was sent.
http::Task<bool> enterGate(ClientConn& c, Exchange& x, const Services& s, size_t idx) {
  x.gateTicket.release();
  UpstreamGate* gate = x.gen->gate(idx);
  if (gate == nullptr) {
    co_return true;
  }
  const config::UpstreamConfig& up = x.cfg().upstreams[idx];
  uint64_t cost = 0;
  if (x.llm()) {
    const usage::RequestInfo& info = *x.acct->request();
    cost = limiter::reservationFor(info.promptEstimate, info.maxOutputTokens,
                                   limiter::ReservationMode::PromptPlusMax,
                                   up.gate.defaultMaxTokens);
  }
  const std::string_view key =
      x.consumer != nullptr ? std::string_view(x.consumer->name) : std::string_view(c.clientIp);
  UpstreamGate::Entry e = co_await gate->enter(key, cost);
  if (e.ticket) {
    x.gateTicket = std::move(e.ticket);
    co_return true;
  }
  x.upstream = &up;
  x.status = 503;
  x.error = ExchangeError::UpstreamBusy;
  x.keepAlive = x.keepAlive && !s.draining;
  const long long waitedMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(e.waited).count();
  std::string msg = "upstream " + up.name + " is at capacity (" +
                    (e.refused == UpstreamGate::Refusal::QueueFull
                         ? std::string("its queue is full")
                         : "no room within " + std::to_string(waitedMs) + " ms") +
                    "). Retry later.";
  std::string body = errorBody(x.dialect, 503, name(x.error), msg);
  c.out = httpResponse(503, "application/json", body, x.requestId(), !x.keepAlive,
                       "retry-after: 1\r\n");
  co_await writeAnswer(c, x);
  co_return false;
}

}  // namespace

bool BreakerTry::start(const Generation& g, size_t upstream) {
  index = upstream;
  breaker = g.breaker(upstream);
  finished = false;
  if (!breaker) {
    permit = CircuitBreaker::Permit{};
    permit.allowed = true;
    return true;
  }
  permit = breaker->allow(SteadyClock::now());
  return permit.allowed;
}

void BreakerTry::finish(bool failure) {
  if (breaker && !finished) {
    breaker->record(permit, failure, SteadyClock::now());
  }
  finished = true;
}

// A request refused by the breaker never reaches an upstream and gets no response, so settle()
// finds no usage and returns its whole reservation: it is charged no tokens.
http::Task<void> forward(ClientConn& c, Exchange& x, const Services& s) {
  std::optional<size_t> fallback = x.route->fallbackIndex;
  BreakerTry tried;
  BreakerTry next;
  if (!tried.start(*x.gen, x.route->upstreamIndex)) {
    // Open: the fallback takes over, or the client is told when to come back.
    CircuitBreaker::Duration retryAfter = tried.permit.retryAfter;
    if (!fallback || !next.start(*x.gen, *fallback)) {
      if (fallback) {
        retryAfter = std::min(retryAfter, next.permit.retryAfter);
      }
      co_await sendCircuitOpen(c, x, s, retryAfter);
      co_return;
    }
    tried = next;
    fallback.reset();
  }

  // Connect, send, and read the response head. When this fails, or the upstream answers 429
  // or 5xx, the fallback (if any, and if its own circuit lets it) gets the request instead:
  // nothing has reached the client yet. Only the head decides; no body byte is buffered.
  const std::vector<config::UpstreamConfig>& upstreams = x.cfg().upstreams;
  std::optional<http::ResponseParser> parser;
  UpstreamError err;
  for (;;) {
    if (!co_await enterGate(c, x, s, tried.index)) {
      tried.finish(false);
      co_return;
    }
    x.upstream = &upstreams[tried.index];
    const bool ok = co_await openUpstream(c, x, tried.index, parser, err);
    const bool retryable = !ok || x.resp.status == 429 || x.resp.status >= 500;
    if (retryable && fallback && next.start(*x.gen, *fallback)) {
      tried.finish(!ok || tried.failedStatus(x.resp.status));
      if (c.upstream) {
        c.upstream->stream->close();  // the unread answer is dropped with its connection
        c.upstream.reset();
      }
      tried = next;
      fallback.reset();
      continue;
    }
    if (!ok) {
      tried.finish(true);
      co_await sendError(c, x, s, err.status, err.error, err.message);
      co_return;
    }
    break;
  }
  co_await relay(c, x, s, *parser, tried);
}

}  // namespace tg::proxy
