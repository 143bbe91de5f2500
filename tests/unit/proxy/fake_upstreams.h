#pragma once
// FakeUpstreams: an http::Upstreams over in-memory streams, for component tests of the
// pipeline. connect() makes a MemoryStream pair, hands one end to the gateway's UpstreamConn
// and runs the test's Handler on the other end: the handler plays the upstream on that one
// connection (read requests with HttpPeer, write responses) and the connection is closed when
// it returns. A connect can be made to fail (an unreachable upstream). The pool part is real:
// release() keeps the connection, takeIdle() hands it out again, so keep-alive reuse and a
// stale pooled connection behave as with UpstreamPool. Counters say what the gateway did.
//
// Single-threaded, like the gateway's own pool.

#include <boost/asio/post.hpp>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "http/upstream_pool.h"
#include "memory_stream.h"

namespace tg::proxy::test {

class FakeUpstreams final : public http::Upstreams {
 public:
  // Plays the upstream on one connection.
  using Handler = std::function<http::Task<void>(HttpPeer&)>;
  // Starts a coroutine (the harness counts them, so a test ends only when all did).
  using Spawn = std::function<void(http::Task<void>)>;

  FakeUpstreams(http::net::any_io_executor ex, Spawn spawn)
      : ex_(std::move(ex)), spawn_(std::move(spawn)) {}

  // The handler of every new connection to upstream `idx` (or to any upstream without one).
  void setHandler(Handler h) { default_ = std::move(h); }
  void setHandler(size_t idx, Handler h) { handlers_[idx] = std::move(h); }
  // Connects to `idx` fail with `ec` (connection refused by default); a null ec lets them pass.
  void failConnects(size_t idx, http::error_code ec = http::net::error::connection_refused) {
    failures_[idx] = ec;
  }

  struct Counts {
    unsigned connects = 0;  // connect() calls, failed ones included
    unsigned reused = 0;    // takeIdle() calls that returned a connection
    unsigned released = 0;  // connections given back to the pool
  };
  const Counts& counts(size_t idx) { return counts_[idx]; }
  size_t idleCount(size_t idx) { return idle_[idx].size(); }
  // Closes every pooled connection (their handlers see the end of the connection).
  void closeIdle() {
    for (auto& [idx, conns] : idle_) {
      for (auto& c : conns) {
        c->stream->close();
      }
      conns.clear();
    }
  }

  // http::Upstreams
  std::unique_ptr<http::UpstreamConn> takeIdle(size_t idx) override {
    auto& conns = idle_[idx];
    if (conns.empty()) {
      return nullptr;
    }
    auto c = std::move(conns.back());
    conns.pop_back();
    ++counts_[idx].reused;
    return c;
  }

  http::Task<void> connect(size_t idx, std::unique_ptr<http::UpstreamConn>& conn,
                           http::error_code& ec) override {
    ++counts_[idx].connects;
    ec.clear();
    // Completes through the event loop, like a real connect.
    co_await http::net::post(ex_, http::net::use_awaitable);
    if (auto f = failures_.find(idx); f != failures_.end() && f->second) {
      ec = f->second;
      conn.reset();
      co_return;
    }
    auto [gateway, upstream] = MemoryStream::pair(ex_);
    conn = std::make_unique<http::UpstreamConn>(std::move(gateway));
    auto h = handlers_.find(idx);
    Handler handler = h != handlers_.end() ? h->second : default_;
    if (!handler) {
      ADD_FAILURE() << "no fake upstream handler for upstream " << idx;
      upstream->close();
      co_return;
    }
    spawn_(serve(std::move(handler), std::move(upstream)));
  }

  void release(size_t idx, std::unique_ptr<http::UpstreamConn> conn) override {
    ++counts_[idx].released;
    idle_[idx].push_back(std::move(conn));
  }

 private:
  // The handler and the stream are parameters, so they live in the coroutine's frame.
  static http::Task<void> serve(Handler handler, MemoryStream::Ptr stream) {
    HttpPeer peer(*stream);
    co_await handler(peer);
    stream->close();
  }

  http::net::any_io_executor ex_;
  Spawn spawn_;
  Handler default_;
  std::map<size_t, Handler> handlers_;
  std::map<size_t, http::error_code> failures_;
  std::map<size_t, Counts> counts_;
  std::map<size_t, std::vector<std::unique_ptr<http::UpstreamConn>>> idle_;
};

}  // namespace tg::proxy::test
