#include "app/gateway.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/signal_set.hpp>
#include <cstring>
#include <functional>
#include <sstream>
#include <thread>

#include "core/log.h"
#include "http/net.h"
#include "http/tls.h"
#include "proxy/worker.h"
#include "redis/redis_store.h"
#include "store/memory_store.h"
#include "tokenizer/tokenizer.h"

namespace tg::app {

using http::error_code;
using http::tcp;
namespace net = http::net;

unsigned defaultWorkers() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) {
      return static_cast<unsigned>(n);
    }
  }
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

struct Listener {
  std::unique_ptr<tcp::acceptor> acceptor;
  net::ssl::context* tls = nullptr;
};

struct WorkerSlot {
  std::unique_ptr<net::io_context> io;
  std::unique_ptr<proxy::Worker> worker;
  std::vector<Listener> listeners;
};

struct Gateway::State {
  std::shared_ptr<const config::Config> config;
  proxy::SharedState shared;
  std::vector<std::shared_ptr<net::ssl::context>> listenerTls;
  std::vector<WorkerSlot> workers;
  int accessLogFd = -1;
  bool ownsLogFd = false;
  std::atomic<bool> forced{false};
};

namespace {

core::Result<std::unique_ptr<tcp::acceptor>> bindAcceptor(net::io_context& io,
                                                          const tcp::endpoint& ep) {
  auto a = std::make_unique<tcp::acceptor>(io);
  error_code ec;
  a->open(ep.protocol(), ec);
  if (!ec) {
    a->set_option(tcp::acceptor::reuse_address(true), ec);
  }
  if (!ec) {
    int one = 1;
    if (::setsockopt(a->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ec = error_code(errno, boost::system::system_category());
    }
  }
  if (!ec) {
    a->bind(ep, ec);
  }
  if (!ec) {
    a->listen(tcp::acceptor::max_listen_connections, ec);
  }
  if (ec) {
    return core::Error{ec.message()};
  }
  return a;
}

http::Task<void> acceptLoop(proxy::Worker& worker, tcp::acceptor& acceptor,
                            net::ssl::context* tls) {
  net::steady_timer backoff(worker.io());
  for (;;) {
    error_code ec;
    tcp::socket sock = co_await acceptor.async_accept(http::use(ec));
    if (ec == net::error::operation_aborted || !acceptor.is_open()) {
      co_return;
    }
    if (ec) {
      // Out of file descriptors or memory: wait a little instead of spinning.
      core::logWarn("accept failed", {{"error", ec.message()}});
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(http::use(ec));
      continue;
    }
    worker.serve(std::move(sock), tls);
  }
}

}  // namespace

core::Result<std::unique_ptr<Gateway>> Gateway::create(GatewayConfig gc) {
  config::Config& cfg = gc.config;
  auto s = std::make_unique<State>();
  unsigned nWorkers = cfg.server.workers == 0 ? defaultWorkers() : cfg.server.workers;

  // TLS contexts: one per TLS listener and one per HTTPS upstream, shared by all workers.
  for (const auto& l : cfg.listeners) {
    if (!l.tls) {
      s->listenerTls.push_back(nullptr);
      continue;
    }
    auto ctx = http::makeServerTlsContext(l.tls->certFile, l.tls->keyFile);
    if (!ctx) {
      return core::Error{"listener " + l.address + ": " + ctx.error()};
    }
    s->listenerTls.push_back(*ctx);
  }
  for (const auto& u : cfg.upstreams) {
    if (!u.https) {
      s->shared.upstreamTls.push_back(nullptr);
      continue;
    }
    auto ctx = http::makeClientTlsContext(u.tls.caFile);
    if (!ctx) {
      return core::Error{"upstream " + u.name + ": " + ctx.error()};
    }
    s->shared.upstreamTls.push_back(*ctx);
  }

  // Access log.
  const std::string& al = cfg.server.accessLog;
  if (al == "stdout") {
    s->accessLogFd = STDOUT_FILENO;
  } else if (al == "stderr") {
    s->accessLogFd = STDERR_FILENO;
  } else if (al != "off" && !al.empty()) {
    s->accessLogFd = ::open(al.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (s->accessLogFd < 0) {
      return core::Error{"cannot open access log '" + al + "': " + std::strerror(errno)};
    }
    s->ownsLogFd = true;
  }
  s->shared.accessLogFd = s->accessLogFd;

  // Tokenizers: exact output counts when usage is missing. Without the rank files the gateway
  // still serves, with bytes/4 estimates, and says so.
  auto tok = tokenizer::Tokenizers::load(cfg.tokenizer.dataDir);
  if (tok) {
    s->shared.tokenizers = std::move(*tok);
  } else {
    core::logWarn("tokenizer data not found: output estimates fall back to bytes/4",
                  {{"error", tok.error()}});
  }
  // Rate limits: one store shared by every worker (the embedded, sharded MemoryStore).
  s->shared.policies = gc.policies ? gc.policies : std::make_shared<const limiter::PolicySet>();
  store::MemoryStoreOptions memOptions;
  memOptions.maxEntries = cfg.store.maxBuckets;
  s->shared.memoryStore = std::make_shared<store::MemoryStore>(memOptions);
  std::string storeName = "memory";
  if (cfg.store.type == config::StoreConfig::Type::Redis) {
    const config::RedisStoreConfig& rc = cfg.store.redis;
    redis::RedisStoreOptions ro;
    for (const auto& a : rc.addresses) {
      redis::Endpoint e;
      config::parseHostPort(a, e.host, e.port);
      ro.client.seeds.push_back(e);
    }
    ro.client.cluster = rc.cluster;
    ro.client.username = rc.username;
    ro.client.password = rc.password;
    ro.client.database = rc.database;
    ro.client.tls = rc.tls;
    ro.client.caFile = rc.caFile;
    ro.client.tlsVerify = rc.tlsVerify;
    ro.client.serverName = rc.serverName;
    ro.client.connectTimeout = rc.connectTimeout;
    ro.client.commandTimeout = rc.timeout;
    ro.keyPrefix = rc.keyPrefix;
    s->shared.makeStore = [ro](net::io_context& io, unsigned) -> std::shared_ptr<store::Store> {
      return std::make_shared<redis::RedisStore>(io.get_executor(), ro);
    };
    storeName = std::string(rc.cluster ? "redis-cluster " : "redis ") + rc.addresses[0];
  }
  s->shared.keyCap = std::make_shared<limiter::DistinctKeyCap>();
  if (!s->shared.policies->policies.empty() || !s->shared.policies->consumers.empty()) {
    core::logInfo("rate limits", {{"policies", std::to_string(s->shared.policies->policies.size())},
                                  {"consumers", std::to_string(s->shared.policies->consumers.size())},
                                  {"store", storeName}});
  }
  s->config = std::make_shared<const config::Config>(std::move(cfg));
  s->shared.config = s->config;

  // Workers, and every listener bound on every worker before anything is served. A port of 0
  // is resolved by the first bind and reused for the other workers.
  std::vector<tcp::endpoint> endpoints;
  for (const auto& l : s->config->listeners) {
    error_code ec;
    auto addr = net::ip::make_address(l.host, ec);
    if (ec) {
      return core::Error{"listener " + l.address + ": '" + l.host + "' is not an IP address"};
    }
    endpoints.emplace_back(addr, l.port);
  }
  for (unsigned w = 0; w < nWorkers; ++w) {
    WorkerSlot slot;
    slot.io = std::make_unique<net::io_context>(1);
    slot.worker = std::make_unique<proxy::Worker>(*slot.io, s->shared, w);
    for (size_t i = 0; i < endpoints.size(); ++i) {
      auto a = bindAcceptor(*slot.io, endpoints[i]);
      if (!a) {
        return core::Error{"cannot listen on " + s->config->listeners[i].address + ": " +
                           a.error()};
      }
      if (endpoints[i].port() == 0) {
        endpoints[i] = (*a)->local_endpoint();
      }
      slot.listeners.push_back({std::move(*a), s->listenerTls[i].get()});
    }
    s->workers.push_back(std::move(slot));
  }
  for (size_t i = 0; i < endpoints.size(); ++i) {
    std::ostringstream addr;
    addr << endpoints[i];
    core::logInfo("listening", {{"address", addr.str()},
                                {"tls", s->listenerTls[i] ? "true" : "false"},
                                {"workers", std::to_string(nWorkers)}});
  }
  return std::unique_ptr<Gateway>(new Gateway(std::move(s)));
}

Gateway::Gateway(std::unique_ptr<State> s) : s_(std::move(s)) {}

bool Gateway::forcedStop() const { return s_->forced; }

Gateway::~Gateway() {
  if (s_ && s_->ownsLogFd) {
    ::close(s_->accessLogFd);
  }
}

int Gateway::run() {
  ::signal(SIGPIPE, SIG_IGN);
  net::io_context mainIo(1);
  net::signal_set signals(mainIo, SIGINT, SIGTERM);
  net::steady_timer drainTimer(mainIo);
  std::atomic<size_t> running{s_->workers.size()};
  bool draining = false;

  auto stopWorkers = [this] {
    s_->forced = true;
    for (auto& w : s_->workers) {
      w.io->stop();
    }
  };
  auto finish = [&] {
    signals.cancel();
    drainTimer.cancel();
  };

  std::function<void(const error_code&, int)> onSignal = [&](const error_code& ec, int sig) {
    if (ec) {
      return;
    }
    if (draining) {
      core::logWarn("second signal: stopping now", {{"signal", std::to_string(sig)}});
      stopWorkers();
      return;
    }
    draining = true;
    core::logInfo("draining",
                  {{"signal", std::to_string(sig)},
                   {"timeout_ms", std::to_string(s_->config->server.drainTimeout.count())}});
    for (auto& w : s_->workers) {
      net::post(*w.io, [&w] {
        for (auto& l : w.listeners) {
          error_code ignored;
          l.acceptor->close(ignored);
        }
        w.worker->drain();
      });
    }
    drainTimer.expires_after(s_->config->server.drainTimeout);
    drainTimer.async_wait([&](const error_code& tec) {
      if (!tec) {
        core::logWarn("drain timeout: closing the remaining connections");
        stopWorkers();
      }
    });
    signals.async_wait(onSignal);
  };
  signals.async_wait(onSignal);

  std::vector<std::thread> threads;
  for (auto& w : s_->workers) {
    for (auto& l : w.listeners) {
      net::co_spawn(*w.io, acceptLoop(*w.worker, *l.acceptor, l.tls), net::detached);
    }
    threads.emplace_back([&w, &running, &mainIo, &finish] {
      w.io->run();
      w.worker->accessLog().flush();
      if (--running == 0) {
        net::post(mainIo, finish);
      }
    });
  }
  mainIo.run();
  for (auto& t : threads) {
    t.join();
  }
  core::logInfo("stopped");
  return 0;
}

}  // namespace tg::app
