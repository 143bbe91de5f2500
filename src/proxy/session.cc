#include "proxy/session.h"

#include <algorithm>
#include <array>
#include <chrono>

#include "core/log.h"
#include "proxy/accounting.h"
#include "proxy/exchange.h"
#include "proxy/errors.h"
#include "proxy/forward.h"
#include "proxy/router.h"
#include "proxy/worker.h"

namespace tg::proxy {

using namespace std::chrono_literals;
using http::error_code;
using http::net::buffer;
using SteadyClock = std::chrono::steady_clock;

namespace {

std::string peerAddress(http::tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) {
    return "unknown";
  }
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    return http::net::ip::make_address_v4(http::net::ip::v4_mapped, addr.to_v6()).to_string();
  }
  return addr.to_string();
}

double msSince(SteadyClock::time_point t) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count();
}

// One upstream tried under its circuit breaker (an upstream without one always passes and
// records nothing). finish() records the result once.
struct BreakerTry {
  size_t index = 0;
  CircuitBreaker* breaker = nullptr;
  CircuitBreaker::Permit permit;
  bool finished = false;

  // False when the circuit refuses the request (permit.retryAfter says for how long).
  bool start(const Generation& g, size_t upstream) {
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
  bool failedStatus(int status) const { return breaker && breaker->isFailureStatus(status); }
  void finish(bool failure) {
    if (breaker && !finished) {
      breaker->record(permit, failure, SteadyClock::now());
    }
    finished = true;
  }
};

}  // namespace

Session::Session(Worker& worker, http::tcp::socket sock, http::net::ssl::context* tls)
    : worker_(worker),
      client_(tls ? http::Stream(std::move(sock), *tls) : http::Stream(std::move(sock))),
      deadline_(worker.io().get_executor(), [this] { onDeadline(); }),
      limits_{worker.config().limits.maxHeaderBytes, worker.config().limits.maxHeaders,
              worker.config().limits.maxBodyBytes,   worker.config().limits.headerTimeout,
              worker.config().limits.bodyTimeout,    worker.config().limits.idleTimeout},
      reader_(client_, buf_, deadline_, limits_) {
  worker_.sessions_.insert(this);
}

Session::~Session() {
  deadline_.stop();
  worker_.sessions_.erase(this);
  worker_.stopStoresWhenIdle();
}

void Session::onDeadline() {
  client_.cancel();
  if (upstream_) {
    upstream_->cancel();
  }
}

void Session::onDrain() {
  if (reader_.idle()) {
    client_.cancel();
  }
}

http::Task<void> Session::run() {
  error_code ec;
  client_.socket().set_option(http::tcp::no_delay(true), ec);
  clientIp_ = peerAddress(client_.socket());
  if (client_.isTls()) {
    deadline_.expiresAfter(limits_.headerTimeout);
    co_await client_.handshakeServer(ec);
    if (ec) {
      client_.close();
      co_return;
    }
  }
  while (!worker_.draining() && client_.isOpen()) {
    bool keepAlive = co_await serveRequest();
    if (!keepAlive) {
      break;
    }
  }
  deadline_.clear();
  client_.close();
}

http::Task<bool> Session::sendError(Exchange& x, int status, std::string_view code,
                                    std::string_view message, bool close) {
  x.status = status;
  x.error = code;
  x.keepAlive = x.keepAlive && !close && !worker_.draining();
  out_ = errorResponse(x.dialect, status, code, message, x.requestId, !x.keepAlive);
  co_await writeAnswer(x);
  co_return x.keepAlive;
}

// After an error answered before the request was read whole: stop sending, then read and
// discard what the client is still sending for a short while, so that closing does not
// reset the connection before the client has read the answer.
http::Task<void> Session::lingeringClose() {
  error_code ec;
  client_.socket().shutdown(http::tcp::socket::shutdown_send, ec);
  deadline_.expiresAfter(2s);
  std::array<char, 16384> sink;
  uint64_t total = 0;
  while (total < (64u << 20)) {
    size_t n = co_await client_.socket().async_read_some(buffer(sink), http::use(ec));
    if (ec) {
      break;
    }
    total += n;
  }
  client_.close();
}

http::Task<bool> Session::serveRequest() {
  Exchange x;
  http::ReadResult rr = co_await reader_.readHead(req_);
  if (rr.status == http::ReadStatus::Closed || rr.status == http::ReadStatus::IoError) {
    co_return false;
  }
  x.gen = worker_.generation();
  x.wallStart = std::chrono::system_clock::now();
  x.start = SteadyClock::now();
  x.requestId = worker_.nextRequestId();
  ++served_;

  // The route also picks the dialect of errors found while reading (a 413 on an Anthropic
  // route answers in Anthropic's format), so match as soon as a target was parsed.
  std::string_view path = targetPath(req_.target);
  if (!req_.target.empty()) {
    x.route = matchRoute(x.cfg(), req_.header("host"), path);
    if (x.route) {
      x.dialect = x.route->dialect;
      x.upstream = &x.cfg().upstreams[x.route->upstreamIndex];
    }
  }
  if (rr.status == http::ReadStatus::Ok) {
    rr = co_await reader_.readBody(req_);
    if (rr.status == http::ReadStatus::IoError) {
      co_return false;
    }
  }
  bool keep = true;
  switch (rr.status) {
    case http::ReadStatus::Ok: {
      uint64_t maxReq = x.cfg().limits.maxRequestsPerConnection;
      x.keepAlive = req_.keepAlive && (maxReq == 0 || served_ < maxReq);
      if (req_.method == "CONNECT") {
        keep = co_await sendError(x, 400, "unsupported_method", "CONNECT is not supported", true);
      } else if (!x.route) {
        std::string msg = "no route for " + std::string(path);
        keep = co_await sendError(x, 404, "route_not_found", msg, false);
      } else {
        limitHeaders_.clear();
        x.acct.emplace(worker_.tokenizers());
        std::string bad = x.acct->begin(req_.method, path, targetQuery(req_.target), req_.body,
                                        x.route->injectIncludeUsage);
        if (!bad.empty()) {
          std::string msg = "invalid request body: " + bad;
          keep = co_await sendError(x, 400, "invalid_json", msg, false);
        } else {
          bool admitted = co_await authorizeAndAdmit(x);
          if (admitted) {
            co_await forward(x);
          }
          settle(x);  // exactly once, whatever happened to the response
          keep = x.keepAlive;
        }
      }
      break;
    }
    case http::ReadStatus::Timeout:
      co_await sendError(x, 408, "request_timeout", rr.detail, true);
      keep = false;
      break;
    case http::ReadStatus::BadRequest:
      co_await sendError(x, 400, "bad_request", rr.detail, true);
      co_await lingeringClose();
      keep = false;
      break;
    case http::ReadStatus::HeadTooLarge:
      co_await sendError(x, 431, "request_header_too_large", rr.detail, true);
      co_await lingeringClose();
      keep = false;
      break;
    case http::ReadStatus::BodyTooLarge: {
      std::string msg =
          "request body exceeds " + std::to_string(x.cfg().limits.maxBodyBytes) + " bytes";
      co_await sendError(x, 413, "request_too_large", msg, true);
    }
      co_await lingeringClose();
      keep = false;
      break;
    default:
      keep = false;
  }
  logExchange(x);
  co_return keep && !worker_.draining();
}

void Session::logExchange(const Exchange& x) {
  recordMetrics(x);
  logRateLimit(x);
  AccessLog& log = worker_.accessLog();
  if (!log.enabled()) {
    return;
  }
  AccessRecord r;
  r.start = x.wallStart;
  r.requestId = x.requestId;
  r.client = clientIp_;
  r.method = req_.method;
  r.path = req_.target;
  r.route = x.route ? std::string_view(x.route->name) : std::string_view();
  r.upstream = x.upstream ? std::string_view(x.upstream->name) : std::string_view();
  r.status = x.status;
  r.bytesIn = req_.wireBytes;
  r.bytesOut = x.bytesOut;
  r.durationMs = msSince(x.start);
  r.upstreamFirstByteMs = x.firstByteMs;
  r.upstreamRequestId = x.upstreamRequestId;
  r.error = x.error;
  if (x.acct && x.acct->active()) {
    const usage::RequestInfo* info = x.acct->request();
    r.model = info->model;
    r.dialect = usage::dialectName(info->dialect);
    r.stream = info->stream;
    r.usage = x.usage();
  }
  if (x.consumer) {
    r.consumer = x.consumer->name;
  }
  if (x.limited) {
    r.ratelimit = limiter::outcomeName(admission_.outcome());
    if (const limiter::MatchedBucket* b = admission_.decisive()) {
      const limiter::Policy& p = x.policies().policies[b->policyIndex];
      r.limitPolicy = p.name;
      r.limitRule = p.rules[b->ruleIndex].name;
    }
    r.reservedTokens = admission_.reservedTokens();
  }
  log.record(r);
}

// Connects to upstream `idx` (or reuses an idle pooled connection), sends the request and
// reads the response head into resp_ (with the first body bytes in body_). A reused
// connection that fails before any response byte was probably closed by the upstream while
// idle: retried once on a fresh connection. On failure the connection is gone and `err`
// holds the answer for the client (502 or 504); nothing was written to the client.
http::Task<bool> Session::openUpstream(Exchange& x, size_t idx,
                                       std::optional<http::ResponseParser>& parser,
                                       UpstreamError& err) {
  const config::UpstreamConfig& up = x.cfg().upstreams[idx];
  const bool isHead = req_.method == "HEAD";
  std::string target = upstreamTarget(*x.route, up, req_.target);
  if (!x.keyParam.empty()) {
    removeQueryParam(target, x.keyParam);
  }
  ForwardInfo info{clientIp_, client_.isTls(), x.requestId, x.cfg().server.trustedProxies,
                   x.acct->active()};
  info.keyHeader = x.keyHeader;
  info.consumer = x.consumer ? std::string_view(x.consumer->name) : std::string_view();

  for (int attempt = 0;; ++attempt) {
    upstream_ = attempt == 0 ? x.gen->pool->takeIdle(idx) : nullptr;
    const bool reused = upstream_ != nullptr;
    error_code ec;
    if (!upstream_) {
      deadline_.expiresAfter(up.connectTimeout);
      co_await x.gen->pool->connect(idx, upstream_, ec);
      if (ec) {
        const bool timedOut = deadline_.expired();
        upstream_.reset();
        err.status = timedOut ? 504 : 502;
        err.code = timedOut ? "upstream_timeout" : "upstream_unreachable";
        err.message = timedOut ? "upstream " + up.name + " did not accept the connection in time"
                               : "upstream " + up.name + " is unreachable: " + ec.message();
        co_return false;
      }
    }
    out_.clear();
    buildUpstreamRequest(out_, req_, up, target, info);
    deadline_.expiresAfter(up.firstByteTimeout);
    std::array<http::net::const_buffer, 2> bufs{buffer(out_), buffer(req_.body)};
    co_await upstream_->stream.write(bufs, ec);
    parser.emplace(resp_, isHead, 64 * 1024);
    body_.clear();
    bool gotBytes = false;
    while (!ec && !parser->headerDone()) {
      http::ReadBuffer& ub = upstream_->buf;
      size_t n = co_await upstream_->stream.readSome(ub.prepare(8192), ec);
      if (ec) {
        break;
      }
      if (!gotBytes) {
        gotBytes = true;
        x.firstByteMs = msSince(x.start);
      }
      ub.commit(n);
      error_code pec;
      size_t used = parser->put(ub.view(), &body_, pec);
      ub.consume(used);
      if (pec && !http::isNeedMore(pec)) {
        upstream_->stream.close();
        upstream_.reset();
        err.status = 502;
        err.code = "bad_upstream_response";
        err.message = "upstream " + up.name + " sent an invalid response: " + pec.message();
        co_return false;
      }
    }
    if (!ec) {
      co_return true;
    }
    const bool timedOut = deadline_.expired();
    upstream_->stream.close();
    upstream_.reset();
    if (reused && !gotBytes && !timedOut && attempt == 0) {
      continue;
    }
    err.status = timedOut ? 504 : 502;
    err.code = timedOut ? "upstream_timeout" : "bad_upstream_response";
    err.message = timedOut ? "upstream " + up.name + " did not answer in time"
                           : "upstream " + up.name + " closed the connection: " + ec.message();
    co_return false;
  }
}

// 503 in the route's dialect with retry-after: the seconds until the circuit half-opens.
http::Task<void> Session::sendCircuitOpen(Exchange& x, CircuitBreaker::Duration retryAfter) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(retryAfter).count();
  const long long seconds = std::max<long long>(1, (ms + 999) / 1000);
  x.status = 503;
  x.error = "circuit_open";
  x.keepAlive = x.keepAlive && !worker_.draining();
  std::string msg = "upstream " + x.upstream->name +
                    " is failing and its circuit breaker is open. Retry in " +
                    std::to_string(seconds) + "s.";
  std::string body = errorBody(x.dialect, 503, "circuit_open", msg);
  std::string headers = "retry-after: " + std::to_string(seconds) + "\r\n";
  out_ = httpResponse(503, "application/json", body, x.requestId, !x.keepAlive, headers);
  deadline_.expiresAfter(limits_.idleTimeout);
  error_code ec;
  co_await client_.write(buffer(out_), ec);
  x.bytesOut += out_.size();
  if (ec) {
    x.keepAlive = false;
  }
}

// Circuit breakers (proxy/breaker.h) and the route's fallback upstream. A request refused by
// the breaker never reaches an upstream and gets no response, so settle() finds no usage and
// returns its whole reservation: it is charged no tokens.
http::Task<void> Session::forward(Exchange& x) {
  const bool isHead = req_.method == "HEAD";
  const std::vector<config::UpstreamConfig>& upstreams = x.cfg().upstreams;
  Accounting& acct = *x.acct;
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
      co_await sendCircuitOpen(x, retryAfter);
      co_return;
    }
    tried = next;
    fallback.reset();
  }

  // Connect, send, and read the response head. When this fails, or the upstream answers 429
  // or 5xx, the fallback (if any, and if its own circuit lets it) gets the request instead:
  // nothing has reached the client yet. Only the head decides; no body byte is buffered.
  std::optional<http::ResponseParser> parser;
  UpstreamError err;
  for (;;) {
    x.upstream = &upstreams[tried.index];
    const bool ok = co_await openUpstream(x, tried.index, parser, err);
    const bool retryable = !ok || resp_.status == 429 || resp_.status >= 500;
    if (retryable && fallback && next.start(*x.gen, *fallback)) {
      tried.finish(!ok || tried.failedStatus(resp_.status));
      if (upstream_) {
        upstream_->stream.close();  // the unread answer is dropped with its connection
        upstream_.reset();
      }
      tried = next;
      fallback.reset();
      continue;
    }
    if (!ok) {
      tried.finish(true);
      co_await sendError(x, err.status, err.code, err.message, false);
      co_return;
    }
    break;
  }
  const config::UpstreamConfig& up = *x.upstream;
  const size_t idx = tried.index;

  // Relay: the head with the first body bytes in one write, then one write per upstream read.
  x.status = resp_.status;
  x.upstreamRequestId = std::string(resp_.header("x-request-id"));
  acct.onResponse(resp_);
  Framing framing = clientFraming(resp_, isHead, req_.version);
  if (framing == Framing::Length && acct.editsBody()) {
    framing = req_.version >= 11 ? Framing::Chunked : Framing::Close;  // the length changes
  }
  if (framing == Framing::Close || worker_.draining()) {
    x.keepAlive = false;
  }
  out_.clear();
  buildClientResponseHead(out_, resp_, framing, x.requestId, x.keepAlive, req_.version,
                          acct.decodesForClient(), limitHeaders_);
  bool upstreamOk = true;
  for (;;) {
    // The usage tracker reads every body byte on the side and returns what to forward:
    // the same bytes, less the injected usage chunk when the client did not ask for it.
    fwd_.clear();
    if (!body_.empty()) {
      if (!x.firstBodyMs) {
        x.firstBodyMs = msSince(x.start);  // a stream's first event: time to first token
      }
      acct.relay(body_, fwd_);
      body_.clear();
    }
    if (parser->done()) {
      acct.end(true, fwd_);
    }
    if (!fwd_.empty()) {
      if (framing == Framing::Chunked) {
        http::appendChunkHeader(out_, fwd_.size());
        out_ += fwd_;
        out_ += "\r\n";
      } else if (framing != Framing::None) {
        out_ += fwd_;
      }
    }
    if (parser->done() && framing == Framing::Chunked) {
      out_ += "0\r\n\r\n";
    }
    if (!out_.empty()) {
      deadline_.expiresAfter(limits_.idleTimeout);
      error_code wec;
      co_await client_.write(buffer(out_), wec);
      if (wec) {
        x.error = "client_gone";
        x.keepAlive = false;
        upstreamOk = false;
        break;
      }
      x.bytesOut += out_.size();
      out_.clear();
    }
    if (parser->done()) {
      break;
    }
    deadline_.expiresAfter(up.idleTimeout);
    http::ReadBuffer& ub = upstream_->buf;
    error_code rec;
    size_t n = co_await upstream_->stream.readSome(ub.prepare(8192), rec);
    if (rec) {
      if (rec == http::net::error::eof || rec == http::net::ssl::error::stream_truncated) {
        error_code eofEc;
        parser->putEof(eofEc);
        if (!eofEc && parser->done()) {
          upstreamOk = false;  // a close-delimited body ends here; the connection is gone
          continue;            // write the final chunk
        }
      }
      x.error = deadline_.expired() ? "upstream_timeout" : "upstream_broken";
      x.keepAlive = false;
      upstreamOk = false;
      break;
    }
    ub.commit(n);
    error_code pec;
    size_t used = parser->put(ub.view(), &body_, pec);
    ub.consume(used);
    if (pec && !http::isNeedMore(pec)) {
      x.error = "bad_upstream_response";
      x.keepAlive = false;
      upstreamOk = false;
      break;
    }
  }
  fwd_.clear();
  acct.end(false, fwd_);  // no-op when the body ended cleanly
  x.upstreamDoneMs = msSince(x.start);
  // The upstream failed when its status says so or its response broke off (not when the
  // client left).
  const bool broken = !upstreamOk && x.error != "client_gone" && !parser->done();
  tried.finish(tried.failedStatus(resp_.status) || broken);
  if (upstreamOk && parser->reusable()) {
    ++upstream_->requests;
    x.gen->pool->release(idx, std::move(upstream_));
  } else if (upstream_) {
    upstream_->stream.close();
    upstream_.reset();
  }
}

}  // namespace tg::proxy
