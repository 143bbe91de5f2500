// The pipeline's order (see pipeline.h) and its first stages: read the head, route, identify,
// read the body, inspect it.

#include "proxy/pipeline.h"

#include "proxy/router.h"

namespace tg::proxy {

namespace {

// The 401 message of a caller the route does not let in.
std::string_view unidentifiedMessage(const Exchange& x) {
  return x.keyPresented ? "Incorrect API key provided."
                        : "Missing API key: send it as 'Authorization: Bearer <key>' or in the "
                          "header or parameter this gateway is configured to read.";
}

// The answer to a request that could not be read whole: 408, 400, 431, 413 (and close). A
// caller the route does not let in (`identified` false) gets its 401 instead: it learns only
// that its key is wrong, never the gateway's limits. Unless the body timed out, the unread
// rest of it is drained (bounded) before the close, so the client can read the answer.
http::Task<void> answerReadFailure(ClientConn& c, Exchange& x, const Services& s,
                                   const http::ReadResult& rr, bool identified) {
  if (!identified) {
    co_await sendError(c, x, s, 401, ExchangeError::InvalidApiKey, unidentifiedMessage(x), true);
  } else {
    switch (rr.status) {
      case http::ReadStatus::Timeout:
        co_await sendError(c, x, s, 408, ExchangeError::RequestTimeout, rr.detail, true);
        break;
      case http::ReadStatus::BadRequest:
        co_await sendError(c, x, s, 400, ExchangeError::BadRequest, rr.detail, true);
        break;
      case http::ReadStatus::HeadTooLarge:
        co_await sendError(c, x, s, 431, ExchangeError::HeaderTooLarge, rr.detail, true);
        break;
      case http::ReadStatus::BodyTooLarge: {
        std::string msg =
            "request body exceeds " + std::to_string(x.cfg().limits.maxBodyBytes) + " bytes";
        co_await sendError(c, x, s, 413, ExchangeError::RequestTooLarge, msg, true);
        break;
      }
      default:
        x.keepAlive = false;
        co_return;
    }
  }
  if (rr.status != http::ReadStatus::Timeout) {
    co_await lingeringClose(c);
  }
}

// Inspect: for an LLM call (a known dialect path), the dialect, model, stream flag, output cap
// and a cheap prompt estimate (proxy/accounting.h). False when the body is not valid JSON
// (answered 400).
http::Task<bool> inspect(ClientConn& c, Exchange& x, const Services& s, std::string_view path) {
  x.acct.emplace(s.tokenizers);
  std::string bad = x.acct->begin(x.req.method, path, targetQuery(x.req.target), x.req.body,
                                  x.route->injectIncludeUsage);
  if (bad.empty()) {
    co_return true;
  }
  co_await sendError(c, x, s, 400, ExchangeError::InvalidJson, "invalid request body: " + bad);
  co_return false;
}

// Everything between a readable request and its settlement: the stages in order, until one
// answers the request itself.
http::Task<void> serveReadRequest(ClientConn& c, Exchange& x, const Services& s,
                                  std::string_view path, bool identified) {
  if (x.req.method == "CONNECT") {
    co_await sendError(c, x, s, 400, ExchangeError::UnsupportedMethod, "CONNECT is not supported",
                       true);
    co_return;
  }
  if (!x.route) {
    co_await sendError(c, x, s, 404, ExchangeError::RouteNotFound,
                       "no route for " + std::string(path));
    co_return;
  }
  if (!identified) {
    co_await sendError(c, x, s, 401, ExchangeError::InvalidApiKey, unidentifiedMessage(x));
    co_return;
  }
  const bool inspected = co_await inspect(c, x, s, path);
  if (!inspected) {
    co_return;
  }
  // Quotas and limits apply to LLM calls: a GET /v1/models consumes no tokens.
  if (x.llm()) {
    const bool quotaOk = co_await checkQuota(c, x, s);
    if (!quotaOk) {
      co_return;
    }
    const bool admitted = co_await admit(c, x, s);
    if (!admitted) {
      co_return;
    }
  }
  co_await forward(c, x, s);
}

}  // namespace

http::Task<bool> serveExchange(ClientConn& c, Exchange& x, const Services& s) {
  x.reset();
  http::ReadResult rr = co_await c.reader.readHead(x.req);
  if (rr.status == http::ReadStatus::Closed || rr.status == http::ReadStatus::IoError) {
    co_return false;
  }
  x.gen = s.current;
  x.wallStart = std::chrono::system_clock::now();
  x.start = std::chrono::steady_clock::now();
  s.requestIds.next(x.requestIdBuf);
  ++c.served;

  // The route also picks the dialect of errors found while reading (a 413 on an Anthropic
  // route answers in Anthropic's format), so match as soon as a target was parsed.
  const std::string_view path = targetPath(x.req.target);
  if (!x.req.target.empty()) {
    x.route = matchRoute(x.cfg(), x.req.header("host"), path);
    if (x.route) {
      x.dialect = x.route->dialect;
      x.upstream = &x.cfg().upstreams[x.route->upstreamIndex];
    }
  }
  bool identified = true;
  // Identify before the body is read or parsed: an unauthenticated caller is answered 401
  // whatever its body holds (also a declared length over the limit: the head is whole then).
  // The body is still read (bounded) so the connection stays usable.
  if (x.route &&
      (rr.status == http::ReadStatus::Ok || rr.status == http::ReadStatus::BodyTooLarge)) {
    identified = identify(c, x);
  }
  if (rr.status == http::ReadStatus::Ok) {
    rr = co_await c.reader.readBody(x.req);
    if (rr.status == http::ReadStatus::IoError) {
      co_return false;
    }
  }
  if (rr.status == http::ReadStatus::Ok) {
    const uint64_t maxReq = x.cfg().limits.maxRequestsPerConnection;
    x.keepAlive = x.req.keepAlive && (maxReq == 0 || c.served < maxReq);
    co_await serveReadRequest(c, x, s, path, identified);
    settle(x, s);  // exactly once, whatever happened to the response
  } else {
    co_await answerReadFailure(c, x, s, rr, identified);
  }
  observe(c, x, s);
  x.gen.reset();  // an idle keep-alive connection must not pin an old generation (its pool)
  co_return x.keepAlive && !s.draining;
}

}  // namespace tg::proxy
