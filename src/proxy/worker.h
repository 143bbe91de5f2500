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
#include <algorithm>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config/config.h"
#include "http/upstream_pool.h"
#include "limiter/policy.h"
#include "limiter/rules.h"
#include "metrics/catalog.h"
#include "store/memory_store.h"
#include "store/quota.h"
#include "store/store.h"
#include "tokenizer/tokenizer.h"
#include "proxy/access_log.h"
#include "proxy/breaker.h"

namespace tg::proxy {

class Session;

// Tokens used per authenticated consumer since start (the admin API's top consumers). One map
// for all workers behind a mutex: consumers are the configured ones (bounded), and it is
// touched once per request of an authenticated consumer.
class ConsumerTotals {
 public:
  void add(std::string_view consumer, uint64_t tokens) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = totals_.find(consumer);
    if (it == totals_.end()) {
      totals_.emplace(std::string(consumer), tokens);
    } else {
      it->second += tokens;
    }
  }
  // The n consumers with the most tokens, most first (ties by name).
  std::vector<std::pair<std::string, uint64_t>> top(size_t n) const {
    std::vector<std::pair<std::string, uint64_t>> v;
    {
      std::lock_guard<std::mutex> lock(mu_);
      v.assign(totals_.begin(), totals_.end());
    }
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (v.size() > n) {
      v.resize(n);
    }
    return v;
  }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, uint64_t, Hash, std::equal_to<>> totals_;
};

// What every worker receives from start-up, read-only.
struct SharedState {
  std::shared_ptr<const config::Config> config;
  std::vector<std::shared_ptr<http::net::ssl::context>> upstreamTls;  // per upstream; null = http
  int accessLogFd = -1;
  int rateLimitLogFd = -1;  // the rate-limit event log; -1 = off
  // Exact tokenizers for output estimates; null when the rank files were not found.
  std::shared_ptr<const tokenizer::Tokenizers> tokenizers;
  // Rate limits: the compiled policies (never null, may be empty), the in-memory store every
  // worker shares (thread-safe; the store itself in memory mode, the `local` fallback with
  // Redis), the per-worker store factory (Redis: one client per worker thread; null = the
  // memory store), and the per_ rules' distinct-key caps.
  std::shared_ptr<const limiter::PolicySet> policies;
  std::shared_ptr<store::MemoryStore> memoryStore;
  std::function<std::shared_ptr<store::Store>(http::net::io_context&, unsigned worker)> makeStore;
  std::shared_ptr<limiter::DistinctKeyCap> keyCap;
  // Per-consumer token quotas (config `quota:`): the in-process store (memory mode), or a
  // per-worker factory (Redis). Both null = quotas off.
  std::shared_ptr<store::QuotaStore> memoryQuota;
  std::function<std::shared_ptr<store::QuotaStore>(http::net::io_context&, unsigned worker)>
      makeQuota;
  // Metrics: the catalog every worker records into (each through its own Recorder).
  std::shared_ptr<metrics::Catalog> catalog;
  std::shared_ptr<ConsumerTotals> consumerTotals;  // null = not kept
};

// What a config reload replaces, as one worker uses it: the config, the policies, and the
// upstream pool and breakers built from the config's upstreams. A request pins the generation
// it started with (Session keeps the shared_ptr), so a reload never changes anything under a
// request in flight: its route, upstream, pool and policies stay those it was admitted with,
// and the old generation is freed when its last request ends.
struct Generation {
  uint64_t number = 0;
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const limiter::PolicySet> policies;
  std::shared_ptr<http::UpstreamPool> pool;
  std::vector<std::shared_ptr<CircuitBreaker>> breakers;  // per upstream, null = none
  CircuitBreaker* breaker(size_t index) const {
    return index < breakers.size() ? breakers[index].get() : nullptr;
  }
};

class Worker {
 public:
  Worker(http::net::io_context& io, const SharedState& shared, unsigned index);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  http::net::io_context& io() { return io_; }
  // The current generation (see Generation); a request pins it with generation().
  const config::Config& config() const { return *gen_->config; }
  std::shared_ptr<const Generation> generation() const { return gen_; }
  // Applies a reloaded config (on this worker's thread): new requests use it, requests in
  // flight finish on theirs. The pool is kept when the upstreams' targets did not change.
  void reconfigure(const SharedState& next, uint64_t number);
  AccessLog& accessLog() { return accessLog_; }
  AccessLog& rateLimitLog() { return rateLimitLog_; }
  const tokenizer::Tokenizers* tokenizers() const { return tokenizers_.get(); }
  const limiter::PolicySet& policies() const { return *gen_->policies; }
  store::Store& store() { return *store_; }
  // The `local` failure-mode fallback (the shared in-memory store); the same object as store()
  // in memory mode.
  store::Store* localStore() { return memoryStore_.get(); }
  limiter::DistinctKeyCap* keyCap() { return keyCap_.get(); }
  // The quota store; null when quotas are off.
  store::QuotaStore* quota() { return quota_.get(); }
  // This worker's metrics recorder; null without a catalog.
  metrics::Recorder* recorder() { return recorder_.get(); }
  ConsumerTotals* consumerTotals() { return consumerTotals_.get(); }
  // The circuit breaker of upstream `index` on this worker (current generation); null when it
  // has none. Each worker keeps its own breaker state (no locks): thresholds count what this
  // worker saw.
  CircuitBreaker* breaker(size_t index) { return gen_->breaker(index); }

  // A new request id: 32 hex digits, unique across workers and restarts.
  std::string nextRequestId();

  // Starts serving an accepted connection on this worker (spawns its coroutine).
  void serve(http::tcp::socket sock, http::net::ssl::context* tls);

  // Graceful shutdown: from now on connections close after their current request, and idle
  // keep-alive connections are closed at once.
  // Once draining and no connection is left, the stores are stopped (Store::stop), so the
  // worker's event loop ends without waiting for the drain timeout.
  void drain();
  bool draining() const { return draining_; }
  size_t activeSessions() const { return sessions_.size(); }

 private:
  friend class Session;
  http::net::io_context& io_;
  unsigned index_;
  std::shared_ptr<const Generation> gen_;
  AccessLog accessLog_;
  AccessLog rateLimitLog_;
  std::shared_ptr<const tokenizer::Tokenizers> tokenizers_;
  std::shared_ptr<store::MemoryStore> memoryStore_;
  std::shared_ptr<store::Store> store_;
  std::shared_ptr<limiter::DistinctKeyCap> keyCap_;
  std::shared_ptr<store::QuotaStore> quota_;
  std::shared_ptr<metrics::Catalog> catalog_;
  std::unique_ptr<metrics::Recorder> recorder_;
  std::shared_ptr<ConsumerTotals> consumerTotals_;
  uint64_t rngState_;
  bool draining_ = false;
  bool stoppedStores_ = false;
  std::unordered_set<Session*> sessions_;

  void stopStoresWhenIdle();
};

}  // namespace tg::proxy
