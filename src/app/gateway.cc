#include "app/gateway.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/signal_set.hpp>
#include <cstring>
#include <functional>
#include <optional>
#include <sstream>
#include <thread>

#include "admin/api.h"
#include "admin/config_json.h"
#include "admin/server.h"
#include "core/log.h"
#include "http/net.h"
#include "io/tls.h"
#include "limiter/inspect.h"
#include "limiter/rejection.h"
#include "limiter/rules.h"
#include "proxy/event_ring.h"
#include "proxy/worker.h"
#include "redis/redis_store.h"
#include "store/leased_store.h"
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

// A log destination: stdout, stderr, off, or a file this process opened (and reopens on
// SIGUSR1 for rotation: the new descriptor replaces the old one with dup2, atomically, under
// the same number, so workers keep writing to "their" fd and land in the new file).
struct LogFile {
  std::string path;  // set when a file
  int fd = -1;
  bool owned = false;

  std::string open(const std::string& dest, const char* what) {
    if (dest == "stdout") {
      fd = STDOUT_FILENO;
    } else if (dest == "stderr") {
      fd = STDERR_FILENO;
    } else if (dest != "off" && !dest.empty()) {
      fd = ::open(dest.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) {
        return std::string("cannot open ") + what + " '" + dest + "': " + std::strerror(errno);
      }
      path = dest;
      owned = true;
    }
    return "";
  }
  void reopen(const char* what) {
    if (!owned) {
      return;
    }
    int nfd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (nfd < 0) {
      core::logWarn(std::string("cannot reopen the ") + what + "; still writing to the old file",
                    {{"path", path}, {"error", std::strerror(errno)}});
      return;
    }
    ::dup2(nfd, fd);
    ::close(nfd);
    core::logInfo(std::string(what) + " reopened", {{"path", path}});
  }
  ~LogFile() {
    if (owned) {
      ::close(fd);
    }
  }
};

struct WorkerSlot {
  std::unique_ptr<net::io_context> io;
  std::unique_ptr<proxy::Worker> worker;
  std::vector<Listener> listeners;
};

struct Gateway::State {
  std::shared_ptr<const config::Config> config;
  proxy::SharedState shared;
  std::unique_ptr<net::io_context> mainIo = std::make_unique<net::io_context>(1);
  std::function<GatewayLoadResult()> source;  // re-reads the config file (reload)
  std::string sourceName;                     // the file, for error messages
  uint64_t generation = 0;
  bool draining = false;
  std::optional<redis::RedisStoreOptions> redisOptions;  // the admin's own Redis connections
  std::unique_ptr<redis::RedisStore> adminStore;
  std::unique_ptr<admin::AdminServer> admin;
  std::string startAdmin();
  // Re-reads the config and applies it (applyReload), recording the outcome in `reloads`.
  admin::ReloadReply reload();
  admin::ReloadReply applyReload();
  // The last kMaxReloads reloads, oldest first (GET /admin/reloads). Main thread only, like
  // every reload.
  static constexpr size_t kMaxReloads = 20;
  std::vector<admin::ReloadRecord> reloads;
  void buckets(const admin::BucketQuery& q, bool reset,
               std::function<void(admin::BucketsReply)> done);
  std::vector<std::shared_ptr<net::ssl::context>> listenerTls;
  std::vector<WorkerSlot> workers;
  LogFile accessLog;
  LogFile rateLimitLog;
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

// ---- admin API and reload (State methods; they run on the main thread) ------------------

std::string Gateway::State::startAdmin() {
  const config::AdminConfig& ac = config->admin;
  admin::AdminOptions ao;
  ao.host = ac.host;
  ao.port = ac.port;
  ao.token = ac.token;
  if (redisOptions) {
    adminStore = std::make_unique<redis::RedisStore>(mainIo->get_executor(), *redisOptions);
  }
  if (config->quota.enabled) {  // quotas are buckets of the same store (store/quota.h)
    ao.quota = adminStore ? static_cast<store::Store*>(adminStore.get()) : shared.memoryStore.get();
  }
  admin::Hooks h;
  h.ready = [this] { return !draining; };
  h.metrics = [this] { return shared.metrics ? shared.metrics->registry.expose() : ""; };
  h.config = [this] { return admin::configJson(*config); };
  h.events = [](uint64_t after) { return proxy::rateLimitEvents().json(after); };
  h.buckets = [this](const admin::BucketQuery& q, std::function<void(admin::BucketsReply)> done) {
    buckets(q, false, std::move(done));
  };
  h.resetBuckets = [this](const admin::BucketQuery& q,
                          std::function<void(admin::ResetReply)> done) {
    buckets(q, true, [done = std::move(done)](admin::BucketsReply b) {
      admin::ResetReply r;
      r.ok = b.ok;
      r.error = b.error;
      r.notFound = b.notFound;
      r.reset = b.buckets.size();
      done(std::move(r));
    });
  };
  h.reload = [this] { return reload(); };
  h.reloads = [this] { return admin::jsonReloads(generation, reloads); };
  h.top = [this](size_t n) {
    std::vector<admin::TopEntry> out;
    for (auto& [name, tokens] : shared.consumerTotals->top(n)) {
      out.push_back(admin::TopEntry{name, static_cast<int64_t>(tokens)});
    }
    return out;
  };
  auto srv = admin::AdminServer::create(*mainIo, std::move(ao), std::move(h));
  if (!srv) {
    return srv.error();
  }
  admin = std::move(*srv);
  admin->start();
  core::logInfo("admin listening", {{"address", admin->address()}});
  return "";
}

// The buckets a request of the queried consumer would use, with their state now (the admin's
// GET /admin/buckets), or reset (POST /admin/buckets/reset): limiter/inspect.h decides and
// asks the store; this only translates to the admin's reply.
void Gateway::State::buckets(const admin::BucketQuery& q, bool reset,
                             std::function<void(admin::BucketsReply)> done) {
  limiter::BucketQuery query;
  query.consumer = q.consumer;
  query.model = q.model;
  std::vector<std::string> routes;
  if (!q.route.empty()) {
    routes.push_back(q.route);
  } else {
    for (const auto& r : config->routes) {
      routes.push_back(r.name);
    }
  }
  auto inspection = std::make_shared<limiter::Inspection>();
  auto answer = [inspection, done = std::move(done)] {
    const limiter::Inspection& in = *inspection;
    admin::BucketsReply reply;
    reply.ok = in.ok();
    reply.notFound = in.notFound;
    reply.error =
        in.notFound || in.error.empty() ? in.error : "the store did not answer: " + in.error;
    for (size_t i = 0; i < in.buckets.size(); ++i) {
      const limiter::InspectedBucket& b = in.buckets[i];
      admin::BucketView v;
      v.key = b.spec.key;
      v.policy = b.policy;
      v.rule = b.rule;
      v.unit = std::string(limiter::quantityName(b.quantity));
      v.limit = static_cast<int64_t>(b.spec.limit);
      v.windowMs = b.concurrency ? 0 : b.spec.window.count();
      if (i < in.states.size() && in.states[i].ok()) {
        v.used = in.states[i].used;
        v.remaining = in.states[i].remaining;
        v.resetMs = in.states[i].resetIn.count();
      }
      reply.buckets.push_back(std::move(v));
    }
    done(std::move(reply));
  };
  store::Store& st = adminStore ? static_cast<store::Store&>(*adminStore) : *shared.memoryStore;
  const auto action = reset ? limiter::InspectAction::Reset : limiter::InspectAction::Peek;
  if (limiter::inspectBuckets(*shared.policies, query, routes, st, action,
                              std::chrono::system_clock::now(), *inspection, answer)) {
    answer();
  }
}

// Validates the config file whole and applies it to new requests; requests in flight finish
// on the generation they started with. What cannot change without a restart (listeners,
// workers, the store, the admin listener, the tokenizer data) rejects the reload.
admin::ReloadReply Gateway::State::reload() {
  admin::ReloadReply out = applyReload();
  if (reloads.size() == kMaxReloads) {
    reloads.erase(reloads.begin());
  }
  reloads.push_back({std::chrono::system_clock::now(), out.ok, generation, out.errors});
  return out;
}

admin::ReloadReply Gateway::State::applyReload() {
  admin::ReloadReply out;
  if (!source) {
    out.errors.push_back("no config file to reload (quick start)");
    return out;
  }
  GatewayLoadResult loaded = source();
  for (const auto& e : loaded.errors) {
    out.errors.push_back(config::formatError(sourceName, e));
  }
  if (loaded.config) {
    const config::Config& next = loaded.config->config;
    const config::Config& cur = *config;
    auto same = [](const std::vector<config::ListenerConfig>& a,
                   const std::vector<config::ListenerConfig>& b) {
      if (a.size() != b.size()) {
        return false;
      }
      for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].address != b[i].address || a[i].tls.has_value() != b[i].tls.has_value() ||
            (a[i].tls && (a[i].tls->certFile != b[i].tls->certFile ||
                          a[i].tls->keyFile != b[i].tls->keyFile))) {
          return false;
        }
      }
      return true;
    };
    if (!same(cur.listeners, next.listeners)) {
      out.errors.push_back("listeners cannot change on reload: restart tokengate");
    }
    if (cur.server.workers != next.server.workers) {
      out.errors.push_back("server.workers cannot change on reload: restart tokengate");
    }
    if (cur.store.type != next.store.type ||
        cur.store.redis.addresses != next.store.redis.addresses ||
        cur.store.redis.cluster != next.store.redis.cluster ||
        cur.store.redis.database != next.store.redis.database ||
        cur.store.maxBuckets != next.store.maxBuckets) {
      out.errors.push_back("store cannot change on reload: restart tokengate");
    }
    if (cur.admin.enabled != next.admin.enabled || cur.admin.listen != next.admin.listen ||
        cur.admin.token != next.admin.token || cur.quota.enabled != next.quota.enabled) {
      out.errors.push_back("admin and quota cannot change on reload: restart tokengate");
    }
    if (cur.server.accessLog != next.server.accessLog ||
        cur.server.rateLimitLog != next.server.rateLimitLog) {
      out.errors.push_back(
          "server.access_log and server.ratelimit_log cannot change on reload: restart "
          "tokengate (SIGUSR1 reopens the same files for rotation)");
    }
    if (cur.tokenizer.dataDir != next.tokenizer.dataDir) {
      out.errors.push_back("tokenizer.data_dir cannot change on reload: restart tokengate");
    }
  }
  std::vector<std::shared_ptr<net::ssl::context>> upstreamTls;
  if (out.errors.empty()) {
    for (const auto& u : loaded.config->config.upstreams) {
      if (!u.https) {
        upstreamTls.push_back(nullptr);
        continue;
      }
      auto ctx = io::makeClientTlsContext(u.tls.caFile);
      if (!ctx) {
        out.errors.push_back("upstream " + u.name + ": " + ctx.error());
        break;
      }
      upstreamTls.push_back(*ctx);
    }
  }
  if (!out.errors.empty()) {
    for (const auto& e : out.errors) {
      core::logWarn("reload rejected: the running config stays", {{"error", e}});
    }
    return out;
  }
  for (const std::string& note : loaded.notes) {
    core::logWarn("config", {{"note", note}});
  }
  proxy::SharedState next = shared;
  next.config = std::make_shared<const config::Config>(std::move(loaded.config->config));
  next.policies = loaded.config->policies;
  next.upstreamTls = std::move(upstreamTls);
  next.gates = shared.gateRegistry->forConfig(*next.config);
  shared.gates = next.gates;
  shared.config = next.config;
  shared.policies = next.policies;
  shared.upstreamTls = next.upstreamTls;
  config = next.config;
  const uint64_t number = ++generation;
  auto snapshot = std::make_shared<const proxy::SharedState>(std::move(next));
  for (auto& w : workers) {
    proxy::Worker* worker = w.worker.get();
    net::post(*w.io, [worker, snapshot, number] { worker->reconfigure(*snapshot, number); });
  }
  core::logInfo("config reloaded", {{"generation", std::to_string(number)},
                                    {"policies", std::to_string(shared.policies->policies.size())},
                                    {"routes", std::to_string(config->routes.size())}});
  out.ok = true;
  return out;
}

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
    auto ctx = io::makeServerTlsContext(l.tls->certFile, l.tls->keyFile);
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
    auto ctx = io::makeClientTlsContext(u.tls.caFile);
    if (!ctx) {
      return core::Error{"upstream " + u.name + ": " + ctx.error()};
    }
    s->shared.upstreamTls.push_back(*ctx);
  }

  // Access log and rate-limit event log (reopened on SIGUSR1).
  if (std::string err = s->accessLog.open(cfg.server.accessLog, "access log"); !err.empty()) {
    return core::Error{err};
  }
  if (std::string err = s->rateLimitLog.open(cfg.server.rateLimitLog, "rate-limit log");
      !err.empty()) {
    return core::Error{err};
  }
  s->shared.accessLogFd = s->accessLog.fd;
  s->shared.rateLimitLogFd = s->rateLimitLog.fd;

  // Tokenizers: exact output counts when usage is missing. Without the rank files the gateway
  // still serves, with bytes/4 estimates, and says so.
  auto tok = tokenizer::Tokenizers::load(cfg.tokenizer.dataDir);
  if (tok) {
    s->shared.tokenizers = std::move(*tok);
  } else {
    core::logWarn("tokenizer data not found: output estimates fall back to bytes/4",
                  {{"error", tok.error()}});
  }
  // Metrics: every module's stats in one registry; the stores record into theirs.
  s->shared.metrics = std::make_shared<proxy::Metrics>(TOKENGATE_VERSION);
  // Rate limits: one store shared by every worker (the embedded, sharded MemoryStore).
  s->shared.policies = gc.policies ? gc.policies : std::make_shared<const limiter::PolicySet>();
  store::MemoryStoreOptions memOptions;
  memOptions.maxEntries = cfg.store.maxBuckets;
  memOptions.stats = &s->shared.metrics->store;
  s->shared.memoryStore = std::make_shared<store::MemoryStore>(memOptions);
  std::string storeName = "memory";
  std::string leaseName = "none";  // Redis: leased or exact
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
    ro.stats = &s->shared.metrics->store;
    std::optional<store::LeaseOptions> lease;
    if (rc.lease.enabled) {
      lease.emplace();
      lease->ttl = rc.lease.ttl;
      lease->maxShare = rc.lease.maxShare;
      lease->minLimit = rc.lease.minLimit;
    }
    s->shared.makeStore = [ro, lease](net::io_context& io,
                                      unsigned) -> std::shared_ptr<store::Store> {
      auto redisStore = std::make_shared<redis::RedisStore>(io.get_executor(), ro);
      if (!lease) {
        return redisStore;
      }
      return std::make_shared<store::LeasedStore>(std::move(redisStore), *lease);
    };
    storeName = std::string(rc.cluster ? "redis-cluster " : "redis ") + rc.addresses[0];
    leaseName = lease ? "leased" : "exact";
    s->redisOptions = ro;
  }
  s->shared.keyCap = std::make_shared<limiter::DistinctKeyCap>();
  s->shared.consumerTotals = std::make_shared<proxy::ConsumerTotals>();
  if (!s->shared.policies->policies.empty() || !s->shared.policies->consumers.empty()) {
    core::logInfo("rate limits",
                  {{"policies", std::to_string(s->shared.policies->policies.size())},
                   {"consumers", std::to_string(s->shared.policies->consumers.size())},
                   {"store", storeName},
                   {"lease", leaseName}});
  }
  s->config = std::make_shared<const config::Config>(std::move(cfg));
  s->shared.config = s->config;
  s->shared.gateRegistry = std::make_shared<proxy::UpstreamGates>(&s->shared.metrics->proxy);
  s->shared.gates = s->shared.gateRegistry->forConfig(*s->config);
  s->shared.queues = std::make_shared<proxy::AdmissionQueues>();

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
  if (s->config->admin.enabled) {
    auto err = s->startAdmin();
    if (!err.empty()) {
      return core::Error{"admin listener: " + err};
    }
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

Gateway::~Gateway() = default;

// Log rotation (SIGUSR1): both log files are reopened under their names (LogFile::reopen).
void Gateway::reopenLogs() {
  s_->accessLog.reopen("access log");
  s_->rateLimitLog.reopen("rate-limit log");
}

void Gateway::setReloadSource(std::string name, std::function<GatewayLoadResult()> source) {
  s_->sourceName = std::move(name);
  s_->source = std::move(source);
}

bool Gateway::reload(std::vector<std::string>* errors) {
  admin::ReloadReply r = s_->reload();
  if (errors != nullptr) {
    *errors = r.errors;
  }
  return r.ok;
}

int Gateway::run() {
  ::signal(SIGPIPE, SIG_IGN);
  net::io_context& mainIo = *s_->mainIo;
  net::signal_set signals(mainIo, SIGINT, SIGTERM);
  // SIGHUP: reload the config file; SIGUSR1: reopen the log files (rotation).
  net::signal_set control(mainIo, SIGHUP, SIGUSR1);
  std::function<void(const error_code&, int)> onControl = [&](const error_code& ec, int sig) {
    if (ec) {
      return;
    }
    if (sig == SIGHUP) {
      s_->reload();
    } else {
      reopenLogs();
    }
    control.async_wait(onControl);
  };
  control.async_wait(onControl);
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
    control.cancel();
    drainTimer.cancel();
    if (s_->admin) {
      s_->admin->stop();
    }
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
    s_->draining = true;
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
      w.worker->rateLimitLog().flush();
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
