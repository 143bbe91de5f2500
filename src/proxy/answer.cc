// The gateway's own answers (pipeline.h), the Exchange's reset and its error names.

#include <array>

#include "proxy/errors.h"
#include "proxy/pipeline.h"

namespace tg::proxy {

using namespace std::chrono_literals;

std::string_view name(ExchangeError e) {
  switch (e) {
    case ExchangeError::None:
      return "";
    case ExchangeError::BadRequest:
      return "bad_request";
    case ExchangeError::UnsupportedMethod:
      return "unsupported_method";
    case ExchangeError::InvalidJson:
      return "invalid_json";
    case ExchangeError::InvalidApiKey:
      return "invalid_api_key";
    case ExchangeError::RouteNotFound:
      return "route_not_found";
    case ExchangeError::RequestTimeout:
      return "request_timeout";
    case ExchangeError::RequestTooLarge:
      return "request_too_large";
    case ExchangeError::HeaderTooLarge:
      return "request_header_too_large";
    case ExchangeError::RateLimited:
      return "rate_limited";
    case ExchangeError::RequestTooLargeForLimit:
      return "request_too_large_for_limit";
    case ExchangeError::RateLimitStoreUnavailable:
      return "ratelimit_store_unavailable";
    case ExchangeError::InsufficientQuota:
      return "insufficient_quota";
    case ExchangeError::QuotaStoreUnavailable:
      return "quota_store_unavailable";
    case ExchangeError::UpstreamUnreachable:
      return "upstream_unreachable";
    case ExchangeError::UpstreamTimeout:
      return "upstream_timeout";
    case ExchangeError::BadUpstreamResponse:
      return "bad_upstream_response";
    case ExchangeError::CircuitOpen:
      return "circuit_open";
    case ExchangeError::UpstreamBusy:
      return "upstream_busy";
    case ExchangeError::UpstreamBroken:
      return "upstream_broken";
    case ExchangeError::ClientGone:
      return "client_gone";
  }
  return "unknown";
}

void Exchange::reset() {
  gen.reset();
  req.reset();
  route = nullptr;
  upstream = nullptr;
  dialect = config::Dialect::OpenAI;
  consumer = nullptr;
  apiKeyId = {};
  keyPresented = false;
  keyHeader.clear();
  keyParam.clear();
  clientIpForLimits.clear();
  acct.reset();
  quotaCharged = false;
  limited = false;
  limitHeaders.clear();
  resp.reset();
  status = 0;
  bytesOut = 0;
  firstByteMs.reset();
  firstBodyMs.reset();
  upstreamDoneMs.reset();
  upstreamRequestId.clear();
  error = ExchangeError::None;
  keepAlive = true;
  streamCut.reset();
  gateTicket.release();
  cutByBudget = false;
  queueResult = {};
  clampedMaxTokens.reset();
  queuedMs = 0;
  usage.reset();
  settled = false;
}

http::Task<void> writeAnswer(ClientConn& c, Exchange& x) {
  c.deadline.expiresAfter(c.limits.idleTimeout);
  http::error_code ec;
  x.bytesOut += co_await c.stream.write(http::net::buffer(c.out), ec);
  if (ec) {
    // The client did not take the answer: the log says so (the answer's own error, such as
    // rate_limited, is kept when there is one).
    x.keepAlive = false;
    if (x.error == ExchangeError::None) {
      x.error = ExchangeError::ClientGone;
    }
  }
}

http::Task<void> sendError(ClientConn& c, Exchange& x, const Services& s, int status,
                           ExchangeError e, std::string_view message, bool close) {
  x.status = status;
  x.error = e;
  x.keepAlive = x.keepAlive && !close && !s.draining;
  c.out = errorResponse(x.dialect, status, name(e), message, x.requestId(), !x.keepAlive);
  co_await writeAnswer(c, x);
}

http::Task<void> lingeringClose(ClientConn& c) {
  c.stream.shutdownSend();
  c.deadline.expiresAfter(2s);
  std::array<char, 16384> sink;
  uint64_t total = 0;
  while (total < (64u << 20)) {
    http::error_code ec;
    size_t n = co_await c.stream.readSome(http::net::buffer(sink), ec);
    if (ec) {
      break;
    }
    total += n;
  }
  c.stream.close();
}

}  // namespace tg::proxy
