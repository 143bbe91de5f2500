#pragma once
// Exchange: one request and its response as they go through the pipeline (proxy/pipeline.h),
// from the first byte of the request head to the access-log line. Plain data: every stage
// reads what the stages before it wrote and adds its own part; nothing here does I/O.
//
// One Exchange per connection, reset() before each request: its strings and the Admission
// keep their capacity, so a warm keep-alive connection serves a request without allocating
// for them. Used on the connection's thread only.
//
// The request's usage is one core::TokenUsage end to end: read once when the response is over
// (settle()), then settled into the limits, charged to the quota, counted in metrics and
// written to the access log from the same record.

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "core/token_usage.h"
#include "http/request_reader.h"
#include "http/response_reader.h"
#include "limiter/admission.h"
#include "limiter/policy.h"
#include "proxy/accounting.h"
#include "proxy/generation.h"
#include "store/quota.h"
#include "usage/stream_cut.h"

namespace tg::proxy {

// Why the gateway answered a request itself, or how its response ended early. name() is the
// `code` of the error body and the access log's `error` field.
enum class ExchangeError : uint8_t {
  None,
  // Client side, before forwarding.
  BadRequest,         // 400: malformed HTTP
  UnsupportedMethod,  // 400: CONNECT
  InvalidJson,        // 400: an LLM request whose body is not valid JSON
  InvalidApiKey,      // 401: key-auth failed
  RouteNotFound,      // 404
  RequestTimeout,     // 408
  RequestTooLarge,    // 413: body over limits.max_body_bytes
  HeaderTooLarge,     // 431
  // Limits.
  RateLimited,                // 429 (or the policy's code)
  RequestTooLargeForLimit,    // 429: larger than a whole limit, never fits
  RateLimitStoreUnavailable,  // 503: the store is down and a policy fails closed
  InsufficientQuota,          // 429: the consumer's quota is used up
  QuotaStoreUnavailable,      // 503: the quota store is down and quotas fail closed
  // Upstream, before any response byte reached the client (answered 502 / 503 / 504).
  UpstreamUnreachable,
  UpstreamTimeout,
  BadUpstreamResponse,
  CircuitOpen,
  UpstreamBusy,  // a protected upstream's queue was full or the wait ran out (upstream_gate.h)
  // After the response started: it was cut short.
  UpstreamBroken,  // the upstream closed or failed mid-body
  ClientGone,      // the client stopped reading (write failed)
};
std::string_view name(ExchangeError e);  // "invalid_api_key", "client_gone", ...

struct Exchange {
  void reset();

  // The config generation this request runs on, pinned for its whole life (a reload never
  // changes its route, upstream, pool or policies; proxy/generation.h).
  std::shared_ptr<const Generation> gen;
  const config::Config& cfg() const { return *gen->config; }
  const limiter::PolicySet& policies() const { return *gen->policies; }

  // Identity and timing.
  std::array<char, 32> requestIdBuf{};
  std::string_view requestId() const { return {requestIdBuf.data(), requestIdBuf.size()}; }
  std::chrono::system_clock::time_point wallStart;
  std::chrono::steady_clock::time_point start;
  double msSinceStart() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  }

  // The request (parsed by http::RequestReader; views into its arena) and where it goes.
  http::Request req;
  const config::RouteConfig* route = nullptr;
  const config::UpstreamConfig* upstream = nullptr;  // the one that answered (or last tried)
  config::Dialect dialect = config::Dialect::OpenAI;

  // Identify: the authenticated consumer and its key; where the key came from, so that it is
  // not forwarded (a header name, or a query parameter removed from the upstream target).
  const limiter::Consumer* consumer = nullptr;
  std::string_view apiKeyId;
  bool keyPresented = false;
  std::string keyHeader;
  std::string keyParam;
  std::string clientIpForLimits;  // the client address after trusted proxies ("" = the peer)

  // Inspect, then the response's usage on the side.
  std::optional<Accounting> acct;
  bool llm() const { return acct && acct->active(); }

  // Quota and admission.
  bool quotaCharged = false;  // charge the consumer's quota at settle
  store::QuotaResult quota;
  limiter::Admission admission;                       // reused request after request
  bool limited = false;                               // admission ran: settle it
  std::string limitHeaders;                           // x-ratelimit-* lines for the client
  // The admission queue (on_limit: queue): how the request's wait ended ("admitted", "full",
  // "too_long", "timeout", "gone", "rejected"; empty = it did not queue) and how long it took.
  std::string_view queueResult;
  std::optional<uint64_t> clampedMaxTokens;  // clamp_max_tokens lowered the output cap to this
  double queuedMs = 0;

  // The response.
  http::ResponseHead resp;
  int status = 0;  // sent to the client; 0 = nothing was sent
  uint64_t bytesOut = 0;
  std::optional<double> firstByteMs;     // response head from the upstream (since start)
  std::optional<double> firstBodyMs;     // first response body bytes (a stream's first event)
  std::optional<double> upstreamDoneMs;  // the response ended (or failed)
  std::string upstreamRequestId;
  ExchangeError error = ExchangeError::None;
  bool keepAlive = true;

  // Stream enforcement (policies with `enforce: stream`, proxy/stream_enforce.h): the cutter
  // while a stream is followed, and whether the gateway ended the stream for the budget.
  std::unique_ptr<usage::StreamCut> streamCut;
  // The request's share of a protected upstream (max_concurrent / max_tokens_in_flight),
  // returned when the upstream's part of the exchange is over.
  UpstreamGate::Ticket gateTicket;
  bool cutByBudget = false;

  // Settle: the usage record, read once (see the header comment).
  std::optional<core::TokenUsage> usage;
  bool settled = false;
};

}  // namespace tg::proxy
