#pragma once
// The request pipeline: one request on a client connection, from its head to its access-log
// line, as one free function per stage over plain data (an Exchange, the ClientConn, the
// worker's Services). The order is DESIGN.md's:
//
//   read head, route  (pipeline.cc)   the target picks the route and so the error dialect
//   identify          (identify.cc)   key-auth: the consumer, before the body is even parsed;
//                                     401 when the route requires a key
//   read body         (pipeline.cc)   bounded in size and time
//   inspect           (pipeline.cc)   dialect, model, stream, output cap, prompt estimate;
//                                     400 on an LLM body that is not JSON
//   quota             (admit.cc)      the consumer's token quota; 429 insufficient_quota
//   admit             (admit.cc)      one atomic reserve across every matching bucket; 429
//   forward           (upstream.cc)   breaker, pooled connection, fallback upstream; 502/503/504
//   relay             (relay.cc)      the response as it arrives, usage read on the side;
//                                     settles before the last byte reaches the client
//   settle            (settle.cc)     the usage record into limits, quota and totals, once
//   log               (observe.cc)    metrics, access log, rate-limit event log
//
// A stage that answers the request itself (an error, a rejection) sets Exchange::status and
// Exchange::error and returns false; the pipeline then skips to settle and log. Stages never
// throw: failures are values. Everything runs on the connection's thread; the only awaits are
// the connection's I/O (under its Deadline) and a networked store's answer (bounded by the
// store client's own timeout).

#include <functional>
#include <string_view>

#include "http/net.h"
#include "proxy/client_conn.h"
#include "proxy/exchange.h"
#include "proxy/services.h"

namespace tg::proxy {

// Serves the next request of `c`. Returns whether the connection stays open for another one
// (false: the client closed, an error closed it, or the gateway is draining).
http::Task<bool> serveExchange(ClientConn& c, Exchange& x, const Services& s);

// The stages (each documented at its definition). Exposed for component tests.
bool identify(ClientConn& c, Exchange& x);
http::Task<bool> checkQuota(ClientConn& c, Exchange& x, const Services& s);
http::Task<bool> admit(ClientConn& c, Exchange& x, const Services& s);
http::Task<void> forward(ClientConn& c, Exchange& x, const Services& s);
void settle(Exchange& x, const Services& s);
void observe(const ClientConn& c, const Exchange& x, const Services& s);

// Runs an operation that completes inline (start returns true) or calls `done` later on this
// thread (store::Store::reserveStart, store/quota.h); suspends only in the second case.
http::Task<void> awaitStart(const std::function<bool(std::function<void()>)>& start);
// One limiter store call (Admission::next() or topUp()) on `store`, inline when the store
// decides inline, else awaiting its answer; the result is in *rc.out.
http::Task<void> reserveOn(store::Store& store, const limiter::Admission::ReserveCall& rc,
                           store::TimePoint now);

// Answers written by the gateway itself (answer.cc).
// An error in the route's dialect; `close` ends the connection after it.
http::Task<void> sendError(ClientConn& c, Exchange& x, const Services& s, int status,
                           ExchangeError e, std::string_view message, bool close = false);
// Writes c.out, a whole answer, under the idle deadline.
http::Task<void> writeAnswer(ClientConn& c, Exchange& x);
// After an error answered before the request was read whole: stop sending, then read and
// discard what the client still sends for a short while, so that closing does not reset the
// connection before the client has read the answer.
http::Task<void> lingeringClose(ClientConn& c);

}  // namespace tg::proxy
