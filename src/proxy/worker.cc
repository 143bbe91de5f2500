#include "proxy/worker.h"

#include <random>

#include "core/log.h"
#include "proxy/session.h"
#include "store/memory_store.h"

namespace tg::proxy {

namespace {

std::vector<http::UpstreamTarget> targetsOf(const SharedState& s) {
  std::vector<http::UpstreamTarget> out;
  const auto& ups = s.config->upstreams;
  for (size_t i = 0; i < ups.size(); ++i) {
    const auto& u = ups[i];
    http::UpstreamTarget t;
    t.host = u.host;
    t.port = u.port;
    t.https = u.https;
    t.serverName = u.tls.serverName.empty() ? u.host : u.tls.serverName;
    t.verify = u.tls.verify;
    t.tls = i < s.upstreamTls.size() ? s.upstreamTls[i] : nullptr;
    t.maxIdle = u.poolMaxIdle;
    t.poolIdleTimeout = u.poolIdleTimeout;
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

namespace {

bool sameTargets(const std::vector<http::UpstreamTarget>& a,
                 const std::vector<http::UpstreamTarget>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    const auto& x = a[i];
    const auto& y = b[i];
    if (x.host != y.host || x.port != y.port || x.https != y.https ||
        x.serverName != y.serverName || x.verify != y.verify || x.tls != y.tls ||
        x.maxIdle != y.maxIdle || x.poolIdleTimeout != y.poolIdleTimeout) {
      return false;
    }
  }
  return true;
}

std::vector<std::shared_ptr<CircuitBreaker>> breakersFor(const config::Config& cfg, unsigned index,
                                                         std::shared_ptr<Metrics> metrics) {
  std::vector<std::shared_ptr<CircuitBreaker>> out;
  for (const config::UpstreamConfig& u : cfg.upstreams) {
    if (!u.circuitBreaker) {
      out.push_back(nullptr);
      continue;
    }
    // Logged once per transition, with the upstream and the worker (each has its own state).
    if (metrics) {
      metrics->proxy.setBreakerState(u.name, BreakerState::Closed);
    }
    auto log = [name = u.name, index, metrics](const CircuitBreaker::Transition& t) {
      if (metrics) {
        // The gauge shows the latest transition of any worker (each keeps its own state).
        metrics->proxy.setBreakerState(name, t.to);
      }
      std::string worker = std::to_string(index);
      std::string ms =
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(t.openFor).count());
      const core::LogLevel level =
          t.to == BreakerState::Open ? core::LogLevel::Warn : core::LogLevel::Info;
      core::log(level, "circuit breaker state change",
                {{"upstream", name},
                 {"worker", worker},
                 {"from", breakerStateName(t.from)},
                 {"to", breakerStateName(t.to)},
                 {"reason", t.reason},
                 {"open_for_ms", ms}});
    };
    out.push_back(std::make_shared<CircuitBreaker>(*u.circuitBreaker, std::move(log)));
  }
  return out;
}

}  // namespace

Worker::Worker(http::net::io_context& io, const SharedState& shared, unsigned index)
    : io_(io),
      index_(index),
      accessLog_(io.get_executor(), shared.accessLogFd),
      rateLimitLog_(io.get_executor(), shared.rateLimitLogFd),
      tokenizers_(shared.tokenizers),
      metrics_(shared.metrics),
      memoryStore_(shared.memoryStore ? shared.memoryStore
                                      : std::make_shared<store::MemoryStore>()),
      store_(shared.makeStore ? shared.makeStore(io, index) : memoryStore_),
      storeTimer_(io),
      keyCap_(shared.keyCap ? shared.keyCap : std::make_shared<limiter::DistinctKeyCap>()),
      recorder_(shared.metrics ? std::make_unique<Recorder>(*shared.metrics) : nullptr),
      consumerTotals_(shared.consumerTotals),
      queues_(shared.queues),
      requestIds_([index] {
        std::random_device rd;
        return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ (uint64_t{index} << 56);
      }()) {
  reconfigure(shared, 0);
  tickStore();
  // Quotas (config `quota:`) are buckets of the rate-limit store (store/quota.h).
  store::Store* quota = shared.config && shared.config->quota.enabled ? store_.get() : nullptr;
  services_.emplace(Services{gen_, *store_, memoryStore_.get(), keyCap_.get(), quota,
                             recorder_.get(), consumerTotals_.get(), tokenizers_.get(), accessLog_,
                             rateLimitLog_, requestIds_, draining_, queues_.get()});
}

void Worker::reconfigure(const SharedState& next, uint64_t number) {
  auto g = std::make_shared<Generation>();
  g->number = number;
  g->config = next.config;
  g->policies = next.policies ? next.policies : std::make_shared<const limiter::PolicySet>();
  std::vector<http::UpstreamTarget> targets = targetsOf(next);
  if (!pool_ || !sameTargets(pool_->targets(), targets)) {
    pool_ = std::make_shared<http::UpstreamPool>(io_.get_executor(), std::move(targets));
  }  // else: same upstreams, keep the warm connections
  g->upstreams = pool_;
  // Breakers start closed in a new generation (their thresholds may have changed).
  g->breakers = breakersFor(*g->config, index_, metrics_);
  g->gates = next.gates;
  gen_ = std::move(g);
  if (number > 0) {
    store_->release(std::chrono::system_clock::now());  // leases go back: limits may have changed
  }
}

// What the store holds locally (leases) is given back as it expires: the store says when to
// look again; a store that holds nothing (MemoryStore, RedisStore alone) never arms the timer.
void Worker::tickStore() {
  if (stoppedStores_) {
    return;
  }
  const std::chrono::milliseconds next = store_->tick(std::chrono::system_clock::now());
  if (next.count() <= 0) {
    return;
  }
  storeTimer_.expires_after(next);
  storeTimer_.async_wait([this](const http::error_code& ec) {
    if (!ec) {
      tickStore();
    }
  });
}

void Worker::serve(http::tcp::socket sock, http::net::ssl::context* tls) {
  auto session = std::make_unique<Session>(*this, std::move(sock), tls);
  Session* raw = session.get();
  http::net::co_spawn(io_, raw->run(), [s = std::move(session)](std::exception_ptr e) {
    core::logStrayException(e, "connection ended by an exception");
  });
}

void Worker::detach(Session* s) {
  sessions_.erase(s);
  stopStoresWhenIdle();
}

void Worker::drain() {
  draining_ = true;
  // Copy first: cancelling may end a session, which erases itself from the set.
  std::vector<Session*> all(sessions_.begin(), sessions_.end());
  for (Session* s : all) {
    s->onDrain();
  }
  stopStoresWhenIdle();
}

void Worker::stopStoresWhenIdle() {
  if (!draining_ || !sessions_.empty() || stoppedStores_) {
    return;
  }
  stoppedStores_ = true;
  storeTimer_.cancel();
  store_->stop();
}

}  // namespace tg::proxy
