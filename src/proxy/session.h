#pragma once
// Session: one client connection, served by one coroutine on its worker's thread from
// accept to close. Requests are read and answered strictly in order (pipelined requests
// wait in the read buffer). For each request: read the head and body within limits, pick
// the route, forward over a pooled upstream connection, and relay the response as it
// arrives: every upstream read becomes one client write, so a stream reaches the client
// event by event. Every await runs under the connection's Deadline.
//
// Before forwarding an LLM call (session_limits.cc): key-auth (401 when the route requires a
// consumer key), then one atomic admission across every bucket of the rate-limit policies
// (429, or the policy's code, with x-ratelimit-* and retry headers). After the response,
// however it ended, the admission is settled exactly once with the request's usage record.
//
// Failures answer in the route's dialect: 400, 404, 408, 413, 431 from the client side;
// 502 (unreachable or broken upstream) and 504 (upstream timeout) before any response byte
// was sent; 503 `circuit_open` with retry-after while the upstream's circuit breaker is open
// (proxy/breaker.h; the route's fallback_upstream, when set, is tried first, also when the
// upstream failed or answered 429 / 5xx before any byte reached the client). Once the response has started, a failure can only cut it short, so the
// connection is closed without the final chunk and the client sees the stream end early.

#include <functional>
#include <memory>
#include <string>

#include "http/deadline.h"
#include "http/request_reader.h"
#include "http/response_reader.h"
#include "http/stream.h"
#include "http/upstream_pool.h"
#include "limiter/admission.h"
#include "store/quota.h"
#include "proxy/access_log.h"
#include "proxy/breaker.h"

namespace tg::proxy {

class Worker;

class Session {
 public:
  Session(Worker& worker, http::tcp::socket sock, http::net::ssl::context* tls);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  http::Task<void> run();
  // Graceful shutdown: an idle connection closes now, a busy one after its response.
  void onDrain();

 private:
  struct Exchange;  // per-request state, see session.cc

  http::Task<bool> serveRequest();
  http::Task<void> forward(Exchange& x);
  // Why an upstream gave no response head: what the client is answered (forward()).
  struct UpstreamError {
    int status = 502;
    std::string_view code;
    std::string message;
  };
  http::Task<bool> openUpstream(Exchange& x, size_t idx,
                                std::optional<http::ResponseParser>& parser, UpstreamError& err);
  http::Task<void> sendCircuitOpen(Exchange& x, CircuitBreaker::Duration retryAfter);
  // Key-auth then admission; false when the request was answered here (401, 429).
  http::Task<bool> authorizeAndAdmit(Exchange& x);
  http::Task<bool> checkQuota(Exchange& x);
  bool authenticate(Exchange& x, bool& presented);
  http::Task<void> awaitStart(const std::function<bool(std::function<void()>)>& start);
  http::Task<void> writeAnswer(Exchange& x);
  void settle(Exchange& x);
  void recordMetrics(const Exchange& x);
  void logRateLimit(const Exchange& x);
  std::string rejectionResponse(const Exchange& x);
  http::Task<bool> sendError(Exchange& x, int status, std::string_view code,
                             std::string_view message, bool close);
  http::Task<void> lingeringClose();
  void onDeadline();
  void logExchange(const Exchange& x);

  Worker& worker_;
  http::Stream client_;
  http::ReadBuffer buf_;
  http::Deadline deadline_;
  http::RequestLimits limits_;
  http::RequestReader reader_;
  http::Request req_;
  http::ResponseHead resp_;
  std::unique_ptr<http::UpstreamConn> upstream_;  // the connection of the current request
  std::string out_;   // bytes to write next (request head, or response head + body)
  std::string body_;  // de-chunked response body bytes of the current read
  std::string fwd_;   // the part of body_ to forward (after the usage tracker)
  std::string clientIp_;
  limiter::Admission admission_;  // reused request after request
  std::string limitHeaders_;      // x-ratelimit-* lines of the current request
  std::optional<std::chrono::nanoseconds> storeWait_;  // the admission's wait for the store
  store::QuotaResult quotaResult_;                     // the quota check of the request
  // The last key-auth lookup of this connection (session_limits.cc).
  std::shared_ptr<const limiter::PolicySet> authSet_;
  std::string authKey_;
  std::optional<limiter::KeyAuthMatch> authMatch_;
  uint64_t served_ = 0;
};

}  // namespace tg::proxy
