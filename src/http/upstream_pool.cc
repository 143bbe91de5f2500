#include "http/upstream_pool.h"

#include <boost/asio/connect.hpp>

namespace tg::http {

using SteadyClock = std::chrono::steady_clock;

UpstreamPool::UpstreamPool(net::any_io_executor ex, std::vector<UpstreamTarget> targets)
    : ex_(std::move(ex)), targets_(std::move(targets)) {
  idle_.resize(targets_.size());
  dns_.resize(targets_.size());
}

std::unique_ptr<UpstreamConn> UpstreamPool::takeIdle(size_t idx) {
  auto& list = idle_[idx];
  auto now = SteadyClock::now();
  while (!list.empty()) {
    std::unique_ptr<UpstreamConn> c = std::move(list.back());
    list.pop_back();
    if (now - c->idleSince < targets_[idx].poolIdleTimeout && c->stream->isOpen()) {
      return c;
    }
    c->stream->close();
  }
  return nullptr;
}

void UpstreamPool::release(size_t idx, std::unique_ptr<UpstreamConn> conn) {
  auto& list = idle_[idx];
  if (list.size() >= targets_[idx].maxIdle || !conn->buf.empty()) {
    conn->stream->close();
    return;
  }
  conn->idleSince = SteadyClock::now();
  list.push_back(std::move(conn));
}

Task<void> UpstreamPool::connect(size_t idx, std::unique_ptr<UpstreamConn>& conn, error_code& ec) {
  const UpstreamTarget& t = targets_[idx];
  auto owned = t.https ? std::make_unique<io::Stream>(tcp::socket(ex_), *t.tls)
                       : std::make_unique<io::Stream>(tcp::socket(ex_));
  io::Stream& stream = *owned;
  conn = std::make_unique<UpstreamConn>(std::move(owned));

  DnsEntry& dns = dns_[idx];
  if (dns.endpoints.empty() || SteadyClock::now() >= dns.expires) {
    error_code parseEc;
    auto addr = net::ip::make_address(t.host, parseEc);
    if (!parseEc) {
      dns.endpoints = {tcp::endpoint(addr, t.port)};
      dns.expires = SteadyClock::time_point::max();
    } else {
      conn->resolver.emplace(ex_);
      auto results =
          co_await conn->resolver->async_resolve(t.host, std::to_string(t.port), use(ec));
      conn->resolver.reset();
      if (ec) {
        conn.reset();
        co_return;
      }
      dns.endpoints.assign(results.begin(), results.end());
      dns.expires = SteadyClock::now() + std::chrono::seconds(30);
    }
  }
  co_await net::async_connect(stream.socket(), dns.endpoints, use(ec));
  if (ec) {
    dns.expires = SteadyClock::now();  // resolve again next time
    conn.reset();
    co_return;
  }
  stream.socket().set_option(tcp::no_delay(true), ec);
  ec.clear();
  if (t.https) {
    co_await stream.handshakeClient(t.serverName, t.verify, ec);
    if (ec) {
      conn.reset();
      co_return;
    }
  }
}

}  // namespace tg::http
