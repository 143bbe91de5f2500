#pragma once
// Worker: everything one event-loop thread owns. A worker has its own io_context, its own
// listening sockets (SO_REUSEPORT, set up by app/), its own upstream connection pools, access
// log buffer and request-id generator, and the set of client connections it is serving.
// Nothing here is shared with another thread except the immutable Config and TLS contexts,
// so nothing here takes a lock. All methods run on the worker's thread.

#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "config/config.h"
#include "http/upstream_pool.h"
#include "limiter/policy.h"
#include "limiter/rules.h"
#include "store/store.h"
#include "tokenizer/tokenizer.h"
#include "proxy/access_log.h"
#include "proxy/breaker.h"

namespace tg::proxy {

class Session;

// What every worker receives from start-up, read-only.
struct SharedState {
  std::shared_ptr<const config::Config> config;
  std::vector<std::shared_ptr<http::net::ssl::context>> upstreamTls;  // per upstream; null = http
  int accessLogFd = -1;
  // Exact tokenizers for output estimates; null when the rank files were not found.
  std::shared_ptr<const tokenizer::Tokenizers> tokenizers;
  // Rate limits: the compiled policies (never null, may be empty), the in-memory store every
  // worker shares (thread-safe; the store itself in memory mode, the `local` fallback with
  // Redis), the per-worker store factory (Redis: one client per worker thread; null = the
  // memory store), and the per_ rules' distinct-key caps.
  std::shared_ptr<const limiter::PolicySet> policies;
  std::shared_ptr<store::Store> memoryStore;
  std::function<std::shared_ptr<store::Store>(http::net::io_context&, unsigned worker)> makeStore;
  std::shared_ptr<limiter::DistinctKeyCap> keyCap;
};

class Worker {
 public:
  Worker(http::net::io_context& io, const SharedState& shared, unsigned index);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  http::net::io_context& io() { return io_; }
  const config::Config& config() const { return *config_; }
  http::UpstreamPool& pool() { return pool_; }
  AccessLog& accessLog() { return accessLog_; }
  const tokenizer::Tokenizers* tokenizers() const { return tokenizers_.get(); }
  const limiter::PolicySet& policies() const { return *policies_; }
  store::Store& store() { return *store_; }
  // The `local` failure-mode fallback (the shared in-memory store); the same object as store()
  // in memory mode.
  store::Store* localStore() { return memoryStore_.get(); }
  limiter::DistinctKeyCap* keyCap() { return keyCap_.get(); }
  // The circuit breaker of upstream `index` on this worker; null when it has none. Each
  // worker keeps its own breaker state (no locks): thresholds count what this worker saw.
  CircuitBreaker* breaker(size_t index) { return breakers_[index].get(); }

  // A new request id: 32 hex digits, unique across workers and restarts.
  std::string nextRequestId();

  // Starts serving an accepted connection on this worker (spawns its coroutine).
  void serve(http::tcp::socket sock, http::net::ssl::context* tls);

  // Graceful shutdown: from now on connections close after their current request, and idle
  // keep-alive connections are closed at once.
  void drain();
  bool draining() const { return draining_; }
  size_t activeSessions() const { return sessions_.size(); }

 private:
  friend class Session;
  http::net::io_context& io_;
  std::shared_ptr<const config::Config> config_;
  http::UpstreamPool pool_;
  AccessLog accessLog_;
  std::shared_ptr<const tokenizer::Tokenizers> tokenizers_;
  std::shared_ptr<const limiter::PolicySet> policies_;
  std::shared_ptr<store::Store> memoryStore_;
  std::shared_ptr<store::Store> store_;
  std::shared_ptr<limiter::DistinctKeyCap> keyCap_;
  std::vector<std::unique_ptr<CircuitBreaker>> breakers_;  // per upstream, null = none
  uint64_t rngState_;
  bool draining_ = false;
  std::unordered_set<Session*> sessions_;
};

}  // namespace tg::proxy
