#include "proxy/relay.h"

#include <boost/asio/ssl/error.hpp>

#include "proxy/forward.h"
#include "proxy/stream_enforce.h"

namespace tg::proxy {

namespace {

// Appends `bytes` to the client's output in the response's framing.
void frame(std::string& out, std::string_view bytes, Framing framing) {
  if (bytes.empty()) {
    return;
  }
  if (framing == Framing::Chunked) {
    http::appendChunkHeader(out, bytes.size());
    out += bytes;
    out += "\r\n";
  } else if (framing != Framing::None) {
    out += bytes;
  }
}

}  // namespace

http::Task<void> relay(ClientConn& c, Exchange& x, const Services& s, http::ResponseParser& parser,
                       BreakerTry& tried) {
  const bool isHead = x.req.method == "HEAD";
  const config::UpstreamConfig& up = *x.upstream;
  Accounting& acct = *x.acct;
  x.status = x.resp.status;
  x.upstreamRequestId = x.resp.header("x-request-id");
  acct.onResponse(x.resp);
  Framing framing = clientFraming(x.resp, isHead, x.req.version);
  if (framing == Framing::Length && acct.editsBody()) {
    framing = x.req.version >= 11 ? Framing::Chunked : Framing::Close;  // the length changes
  }
  if (framing == Framing::Close || s.draining) {
    x.keepAlive = false;
  }
  startStreamEnforcement(x, framing == Framing::Chunked || framing == Framing::Close);
  c.out.clear();
  buildClientResponseHead(c.out, x.resp, framing, x.requestId(), x.keepAlive, x.req.version,
                          acct.decodesForClient(), x.limitHeaders);
  bool upstreamOk = true;  // false: the upstream failed, or its connection cannot be reused
  bool broken = false;     // the upstream's body broke off
  for (;;) {
    // The tracker returns what to forward: the same bytes, less the injected usage chunk when
    // the client did not ask for it.
    c.fwd.clear();
    const bool done = parser.done();
    bool cut = false;  // the stream's budget ran out (stream_enforce.h)
    if (!c.body.empty() && !x.firstBodyMs) {
      x.firstBodyMs = x.msSinceStart();  // a stream's first event: time to first token
    }
    if (x.streamCut) {
      cut = !co_await enforceStream(x, c.body, done, c.fwd);
    } else if (!c.body.empty()) {
      acct.relay(c.body, c.fwd);
    }
    c.body.clear();
    if (done && !cut) {
      acct.end(true, c.fwd);
    }
    frame(c.out, c.fwd, framing);
    if (done || cut) {
      if (framing == Framing::Chunked) {
        c.out += "0\r\n\r\n";
      }
      // The upstream's part is over: free its place at a protected upstream and its
      // connection, and settle before the client has the last byte (relay.h). A stream the
      // gateway cut (the budget ran out) still gets a complete response; its upstream
      // connection is closed (below), so the provider stops generating.
      x.upstreamDoneMs = x.msSinceStart();
      x.gateTicket.release();
      if (cut) {
        upstreamOk = false;
      } else {
        tried.finish(tried.failedStatus(x.resp.status));
        if (upstreamOk && parser.reusable()) {
          ++c.upstream->requests;
          x.gen->upstreams->release(tried.index, std::move(c.upstream));
        }
      }
      settle(x, s);
    }
    if (!c.out.empty()) {
      c.deadline.expiresAfter(c.limits.idleTimeout);
      http::error_code wec;
      x.bytesOut += co_await c.stream.write(http::net::buffer(c.out), wec);
      if (wec) {
        x.error = ExchangeError::ClientGone;
        x.keepAlive = false;
        upstreamOk = false;
        break;
      }
      c.out.clear();
    }
    if (done || cut) {
      break;
    }
    c.deadline.expiresAfter(up.idleTimeout);
    http::ReadBuffer& ub = c.upstream->buf;
    http::error_code rec;
    size_t n = co_await c.upstream->stream->readSome(ub.prepare(8192), rec);
    if (rec) {
      if (rec == http::net::error::eof || rec == http::net::ssl::error::stream_truncated) {
        http::error_code eofEc;
        parser.putEof(eofEc);
        if (!eofEc && parser.done()) {
          upstreamOk = false;  // a close-delimited body ends here; the connection is gone
          continue;            // write the final bytes
        }
      }
      x.error =
          c.deadline.expired() ? ExchangeError::UpstreamTimeout : ExchangeError::UpstreamBroken;
      x.keepAlive = false;
      upstreamOk = false;
      broken = true;
      break;
    }
    ub.commit(n);
    http::error_code pec;
    size_t used = parser.put(ub.view(), &c.body, pec);
    ub.consume(used);
    if (pec && !http::isNeedMore(pec)) {
      x.error = ExchangeError::BadUpstreamResponse;
      x.keepAlive = false;
      upstreamOk = false;
      broken = true;
      break;
    }
  }
  c.fwd.clear();
  acct.end(false, c.fwd);  // no-op when the body ended cleanly
  if (!x.upstreamDoneMs) {
    x.upstreamDoneMs = x.msSinceStart();
  }
  x.gateTicket.release();
  // The upstream failed when its status says so or its response broke off (not when the
  // client left).
  tried.finish(tried.failedStatus(x.resp.status) || broken);
  if (c.upstream) {
    c.upstream->stream->close();
    c.upstream.reset();
  }
}

}  // namespace tg::proxy
