#pragma once
// Worker: everything one event-loop thread owns. A worker has its own io_context, its own
// listening sockets (SO_REUSEPORT, set up by app/), its own upstream connection pools, access
// log buffer and request-id generator, and the set of client connections it is serving. It
// hands the pipeline its Services (proxy/services.h). Nothing here is shared with another
// thread except the immutable Config, the TLS contexts and the thread-safe stores, so nothing
// here takes a lock. All methods run on the worker's thread.

#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_set>
#include <vector>

#include "config/config.h"
#include "http/upstream_pool.h"
#include "limiter/policy.h"
#include "limiter/rules.h"
#include "proxy/access_log.h"
#include "proxy/generation.h"
#include "proxy/services.h"
#include "proxy/stats.h"
#include "store/memory_store.h"
#include "store/store.h"
#include "tokenizer/tokenizer.h"

namespace tg::proxy {

class Session;

// What every worker receives from start-up, read-only.
struct SharedState {
  // Metrics: the registry and stats every worker records into (each through its own
  // Recorder); null = none. The stores record into its store stats themselves. First, so
  // that it outlives the stores below.
  std::shared_ptr<Metrics> metrics;
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
  std::shared_ptr<ConsumerTotals> consumerTotals;  // null = not kept
  // Upstream protection: the registry (kept across reloads) and, per upstream of `config`, its
  // gate (null = no limits), shared by every worker (proxy/upstream_gate.h).
  std::shared_ptr<UpstreamGates> gateRegistry;
  std::vector<std::shared_ptr<UpstreamGate>> gates;
  // The admission queues of on_limit: queue policies, shared by every worker and kept across
  // reloads (proxy/admission_queue.h); null = none.
  std::shared_ptr<AdmissionQueues> queues;
};

class Worker {
 public:
  Worker(http::net::io_context& io, const SharedState& shared, unsigned index);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  http::net::io_context& io() { return io_; }
  // The current generation (see Generation); a request pins it.
  const config::Config& config() const { return *gen_->config; }
  std::shared_ptr<const Generation> generation() const { return gen_; }
  // Applies a reloaded config (on this worker's thread): new requests use it, requests in
  // flight finish on theirs. The pool is kept when the upstreams' targets did not change.
  void reconfigure(const SharedState& next, uint64_t number);
  AccessLog& accessLog() { return accessLog_; }
  AccessLog& rateLimitLog() { return rateLimitLog_; }
  store::Store& store() { return *store_; }
  // The circuit breaker of upstream `index` on this worker (current generation); null when it
  // has none. Each worker keeps its own breaker state (no locks): thresholds count what this
  // worker saw.
  CircuitBreaker* breaker(size_t index) { return gen_->breaker(index); }
  // What the pipeline uses: valid for the worker's life.
  const Services& services() const { return *services_; }

  // Starts serving an accepted connection on this worker (spawns its coroutine).
  void serve(http::tcp::socket sock, http::net::ssl::context* tls);
  // A Session registers itself while it lives (drain reaches every connection).
  void attach(Session* s) { sessions_.insert(s); }
  void detach(Session* s);

  // Graceful shutdown: from now on connections close after their current request, and idle
  // keep-alive connections are closed at once.
  // Once draining and no connection is left, the stores are stopped (Store::stop), so the
  // worker's event loop ends without waiting for the drain timeout.
  void drain();
  bool draining() const { return draining_; }
  size_t activeSessions() const { return sessions_.size(); }

 private:
  http::net::io_context& io_;
  unsigned index_;
  std::shared_ptr<const Generation> gen_;
  std::shared_ptr<http::UpstreamPool> pool_;  // the current generation's
  AccessLog accessLog_;
  AccessLog rateLimitLog_;
  std::shared_ptr<const tokenizer::Tokenizers> tokenizers_;
  std::shared_ptr<Metrics> metrics_;  // before the stores: outlives them
  std::shared_ptr<store::MemoryStore> memoryStore_;
  std::shared_ptr<store::Store> store_;
  http::net::steady_timer storeTimer_;  // Store::tick (leases given back as they expire)
  std::shared_ptr<limiter::DistinctKeyCap> keyCap_;
  std::unique_ptr<Recorder> recorder_;
  std::shared_ptr<ConsumerTotals> consumerTotals_;
  std::shared_ptr<AdmissionQueues> queues_;
  RequestIds requestIds_;
  bool draining_ = false;
  bool stoppedStores_ = false;
  std::unordered_set<Session*> sessions_;
  std::optional<Services> services_;

  void stopStoresWhenIdle();
  void tickStore();
};

}  // namespace tg::proxy
