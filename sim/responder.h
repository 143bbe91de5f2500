#pragma once

// Responder: answers one parsed HTTP request on a connection.
//
// It routes the request (routes.h), builds the effective knobs (defaults < model '@' suffix <
// x-sim-* headers, see knobs.h), inspects the body (request.h), and writes the answer that
// dialects.h describes, applying the timing and fault knobs:
//   non-streaming  one write of header + body after ttft_ms + tokens * delay_ms;
//                  cut_after: header (full Content-Length) + half the body, then an abrupt close;
//   streaming      header, then one write per event: head events at once, the first token event
//                  after ttft_ms, every further one after delay_ms, then the tail events and the
//                  terminating chunk; cut_after N: abrupt close right after the N-th token event
//                  (N >= tokens: after the last token, before any finishing event);
//   gzip           Content-Encoding: gzip; streams are flushed with Z_SYNC_FLUSH per event.
// Every answer carries x-sim-request-id (the request's x-request-id, or "simreq-<seq>").
//
// SimContext is shared by all connection threads: `defaults` is read-only once serving starts
// and `stats` is atomic.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>

#include "knobs.h"
#include "transport.h"

namespace tg::sim {

struct SimStats {
  std::atomic<uint64_t> connections{0};  // TCP connections accepted (TLS: before handshake)
  std::atomic<uint64_t> requests{0};     // requests read, including /sim/stats itself
  // Streams whose client went away before the stream's end (a write failed): what a gateway
  // that ends a stream early and closes the connection leaves behind.
  std::atomic<uint64_t> streamsAborted{0};
  std::atomic<uint64_t> streamsCompleted{0};  // streams written to their end
  // LLM requests being answered now, and the most at once since start (what a gateway that
  // protects this server with max_concurrent must keep bounded).
  std::atomic<uint64_t> inFlight{0};
  std::atomic<uint64_t> maxInFlight{0};
  // The output cap of the last LLM request (max_tokens and its kin, as sent; -1 = none): what
  // a gateway that rewrites caps (clamp_max_tokens) asked for.
  std::atomic<int64_t> lastMaxTokens{-1};
};

struct SimContext {
  Knobs defaults;  // instance-wide knob defaults from the command line
  SimStats stats;
};

using Request = http::request<http::string_body>;

// How the connection continues after an answer.
enum class AfterReply {
  KeepAlive,  // read the next request
  Close,      // orderly shutdown
  Aborted,    // the transport was closed abruptly (cut_after, or a write failed)
};

// Answers `request`. Never throws on bad input; I/O errors end in AfterReply::Aborted.
net::awaitable<AfterReply> respond(Transport& transport, const Request& request,
                                   SimContext& context);

// Answers a request that could not be read: 400 (malformed), 413 (body over 64 MiB) or 431
// (header over 256 KiB), OpenAI-style, with "connection: close".
net::awaitable<void> respondUnreadable(Transport& transport, int status, SimContext& context);

}  // namespace tg::sim
