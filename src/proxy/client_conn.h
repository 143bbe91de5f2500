#pragma once
// ClientConn: what outlives one request on a client connection: its byte stream, receive
// buffer, deadline and request reader, the upstream connection of the request in flight, the
// scratch buffers of the relay, and the last key-auth lookup. The pipeline (proxy/pipeline.h)
// serves one request at a time on it; Session owns one per accepted socket, a component test
// one per in-memory stream.
//
// The deadline's action cancels whatever the connection waits on: the client stream and the
// upstream connection, if any. Single-threaded: the connection's io_context thread only.

#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "http/read_buffer.h"
#include "http/request_reader.h"
#include "http/upstream_pool.h"
#include "io/byte_stream.h"
#include "io/deadline.h"
#include "limiter/policy.h"
#include "limiter/rules.h"

namespace tg::proxy {

struct ClientConn {
  // `stream` must outlive the ClientConn. `clientIp`: the peer address, normalised
  // (IPv4-mapped IPv6 as IPv4).
  ClientConn(io::ByteStream& stream, http::net::any_io_executor ex,
             const config::LimitsConfig& cfg, std::string clientIp);
  ~ClientConn() { deadline.stop(); }
  ClientConn(const ClientConn&) = delete;
  ClientConn& operator=(const ClientConn&) = delete;

  io::ByteStream& stream;
  http::ReadBuffer buf;
  io::Deadline deadline;
  http::RequestLimits limits;
  http::RequestReader reader;
  std::string clientIp;
  uint64_t served = 0;  // requests read on this connection

  std::unique_ptr<http::UpstreamConn> upstream;  // the connection of the current request
  std::string out;     // bytes to write next (request head, or response head + body)
  std::string body;    // de-chunked response body bytes of the current read
  std::string fwd;     // the part of `body` to forward (after the usage tracker)
  std::string target;  // the upstream request target

  // The last key-auth lookup: clients keep a connection and send the same key every time, so
  // the SHA-256 and the constant-time scan of every key run once per connection and key.
  struct AuthCache {
    std::shared_ptr<const limiter::PolicySet> set;  // held: a reloaded set never reuses it
    std::string key;
    std::optional<limiter::KeyAuthMatch> match;
  } auth;
};

}  // namespace tg::proxy
