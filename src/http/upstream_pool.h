#pragma once
// Upstreams: the seam through which the proxy reaches its upstreams: take an idle pooled
// connection, open a new one, give one back. UpstreamPool implements it over sockets; a
// component test implements it over in-memory streams (tests/unit/proxy/).
//
// UpstreamPool: the keep-alive connections of one worker thread to every upstream. Each
// worker owns one pool (no locks); a connection is taken for exactly one request at a time
// and given back only when its response ended cleanly and the upstream allows reuse.
// Idle connections older than the upstream's pool idle timeout are closed when found.
//
// Connecting resolves the host (cached for 30 s; IP literals skip DNS), connects over TCP
// with TCP_NODELAY, and for HTTPS performs the TLS handshake with SNI and verification. The
// timeout is the caller's Deadline, whose action calls UpstreamConn::cancel().

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/net.h"
#include "http/read_buffer.h"
#include "io/stream.h"

namespace tg::http {

struct UpstreamTarget {
  std::string host;
  uint16_t port = 0;
  bool https = false;
  std::string serverName;  // SNI and verified name
  bool verify = true;
  std::shared_ptr<net::ssl::context> tls;  // set when https
  unsigned maxIdle = 64;
  std::chrono::milliseconds poolIdleTimeout{60'000};
};

struct UpstreamConn {
  explicit UpstreamConn(std::unique_ptr<io::ByteStream> s) : stream(std::move(s)) {}
  std::unique_ptr<io::ByteStream> stream;  // never null
  ReadBuffer buf;
  std::chrono::steady_clock::time_point idleSince;
  uint64_t requests = 0;                  // requests served; > 0 means this connection was reused
  std::optional<tcp::resolver> resolver;  // set while resolving

  void cancel() {
    stream->cancel();
    if (resolver) {
      resolver->cancel();
    }
  }
};

class Upstreams {
 public:
  virtual ~Upstreams() = default;
  // A pooled idle connection to upstream `idx`, or null when there is none.
  virtual std::unique_ptr<UpstreamConn> takeIdle(size_t idx) = 0;
  // A new connection to upstream `idx`; `conn` is created first (so the caller's deadline
  // can cancel it) and left null on failure, with the reason in ec.
  virtual Task<void> connect(size_t idx, std::unique_ptr<UpstreamConn>& conn, error_code& ec) = 0;
  // Gives a connection back after a cleanly finished response.
  virtual void release(size_t idx, std::unique_ptr<UpstreamConn> conn) = 0;
};

class UpstreamPool final : public Upstreams {
 public:
  UpstreamPool(net::any_io_executor ex, std::vector<UpstreamTarget> targets);
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // Upstreams
  std::unique_ptr<UpstreamConn> takeIdle(size_t idx) override;
  Task<void> connect(size_t idx, std::unique_ptr<UpstreamConn>& conn, error_code& ec) override;
  void release(size_t idx, std::unique_ptr<UpstreamConn> conn) override;

  size_t idleCount(size_t idx) const { return idle_[idx].size(); }
  const UpstreamTarget& target(size_t idx) const { return targets_[idx]; }
  const std::vector<UpstreamTarget>& targets() const { return targets_; }

 private:
  struct DnsEntry {
    std::vector<tcp::endpoint> endpoints;
    std::chrono::steady_clock::time_point expires;
  };
  net::any_io_executor ex_;
  std::vector<UpstreamTarget> targets_;
  std::vector<std::vector<std::unique_ptr<UpstreamConn>>> idle_;
  std::vector<DnsEntry> dns_;
};

}  // namespace tg::http
