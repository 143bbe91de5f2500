// redis::Client: the routing layer over Connection (one per node). Standalone: one
// connection. Cluster: a table slot -> master connection loaded from CLUSTER SLOTS, fixed up by
// MOVED at once and refreshed in full afterwards (coalesced, at most one CLUSTER SLOTS in
// flight and one per kMinRefreshInterval, plus a periodic one); ASK is followed for one
// command only. NOSCRIPT is answered by SCRIPT LOAD written just before the retried EVALSHA
// on the same connection, so the retry costs no extra round trip; "Function not found" by
// FUNCTION LOAD REPLACE before the retried FCALL, the same way. Whether an eval goes as FCALL
// or EVALSHA is decided by the connection that writes it (Connection::send), so a redirect to
// a node without the library simply sends EVALSHA there.

#include "redis/client.h"

#include <openssl/evp.h>

#include <boost/asio/ssl/context.hpp>
#include <unordered_map>
#include <unordered_set>

#include "core/log.h"
#include "io/tls.h"
#include "redis/cluster.h"
#include "redis/connection.h"
#include "redis/resp.h"
#include "redis/scripts.h"

namespace tg::redis {

namespace {

constexpr uint8_t kMaxRedirects = 5;
constexpr std::chrono::milliseconds kMinRefreshInterval{200};
constexpr std::chrono::seconds kPeriodicRefresh{30};

}  // namespace

std::string_view statusName(Status s) {
  switch (s) {
    case Status::Ok:
      return "ok";
    case Status::Timeout:
      return "timeout";
    case Status::Unavailable:
      return "unavailable";
    case Status::Protocol:
      return "protocol";
  }
  return "unknown";
}

Script::Script(std::string t) : text(std::move(t)) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  sha1.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    sha1 += kHex[md[i] >> 4];
    sha1 += kHex[md[i] & 0xf];
  }
}

struct Client::Impl final : ConnectionOwner, std::enable_shared_from_this<Impl> {
  using Clock = std::chrono::steady_clock;

  Impl(net::any_io_executor e, Options o)
      : ex(std::move(e)),
        options(std::make_shared<const Options>(std::move(o))),
        library(options->functions ? &storeFunctionLibrary() : nullptr),
        slots(kSlotCount, nullptr),
        refreshTimer(ex),
        periodicTimer(ex) {}

  void start();
  void stop();
  void route(RequestPtr req, std::string_view routingKey);
  bool healthy() const;

  // ConnectionOwner
  void onReply(Connection& from, RequestPtr req, Status status, Reply&& reply) override;
  void onStateChange(Connection& c) override;
  // An eval's error reply that asks for the script to be loaded and the command retried on
  // `from` (NOSCRIPT, Function not found), at most once per way: true = resend with
  // Prefix::ScriptLoad.
  bool retryEval(Connection& from, Request& req, const Reply& reply);

  std::shared_ptr<Connection> node(const Endpoint& e);
  void requestRefresh();
  void refreshNow();
  void onSlots(Status status, Reply&& reply, const std::string& askedHost);
  void applySlots(const std::vector<SlotRange>& ranges);
  void schedulePeriodic();

  net::any_io_executor ex;
  std::shared_ptr<const Options> options;
  const FunctionLibrary* library;  // null: functions off (EVALSHA only)
  std::shared_ptr<net::ssl::context> tls;
  bool started = false;
  bool stopped = false;
  size_t outstanding = 0;     // commands sent through the Client API and not yet completed
  bool stopWhenIdle = false;  // stop() when `outstanding` reaches 0
  bool broken = false;  // cannot work at all (a TLS context that does not load)

  std::shared_ptr<Connection> primary;  // standalone

  // Cluster. Invariant: every non-null slot points into `nodes`.
  std::unordered_map<std::string, std::shared_ptr<Connection>> nodes;
  std::vector<Connection*> slots;
  std::vector<Connection*> masters;  // the distinct owners in `slots`
  bool slotMapKnown = false;
  bool refreshInFlight = false;
  bool refreshAgain = false;  // asked for while one was in flight
  bool refreshScheduled = false;
  Clock::time_point lastRefresh{};
  net::steady_timer refreshTimer;
  net::steady_timer periodicTimer;

  // Every script eval() has seen, by SHA1, with its library function (if any); requests point
  // at the stored entry.
  std::unordered_map<std::string, EvalScript> scripts;
  const EvalScript& script(const Script& s);
};

void Client::Impl::start() {
  if (started || stopped) {
    return;
  }
  started = true;
  if (options->seeds.empty()) {
    core::logError("redis: no server address configured");
    broken = true;
    return;
  }
  if (options->tls) {
    auto ctx = io::makeClientTlsContext(options->caFile);
    if (!ctx.ok()) {
      core::logError("redis: cannot create the TLS context", {{"error", ctx.error()}});
      broken = true;
      return;
    }
    tls = std::move(ctx.value());
  }
  if (!options->cluster) {
    primary = std::make_shared<Connection>(ex, options->seeds.front(), options, tls,
                                           /*select=*/true, this, library);
    primary->start();
    return;
  }
  for (const auto& seed : options->seeds) {
    node(seed);
  }
  schedulePeriodic();
}

void Client::Impl::stop() {
  if (stopped) {
    return;
  }
  stopped = true;
  refreshTimer.cancel();
  periodicTimer.cancel();
  std::vector<std::shared_ptr<Connection>> all;
  if (primary) {
    all.push_back(std::move(primary));
  }
  for (auto& [key, c] : nodes) {
    all.push_back(c);
  }
  nodes.clear();
  std::fill(slots.begin(), slots.end(), nullptr);
  masters.clear();
  slotMapKnown = false;
  for (auto& c : all) {
    c->detach();  // completions are then posted straight to the callers
    c->stop();
  }
}

bool Client::Impl::healthy() const {
  if (stopped || broken) {
    return false;
  }
  if (!options->cluster) {
    return primary && primary->up();
  }
  if (!slotMapKnown) {
    return false;
  }
  for (const Connection* m : masters) {
    if (!m->up()) {
      return false;
    }
  }
  return true;
}

std::shared_ptr<Connection> Client::Impl::node(const Endpoint& e) {
  std::string key = endpointKey(e);
  auto it = nodes.find(key);
  if (it != nodes.end()) {
    return it->second;
  }
  auto c = std::make_shared<Connection>(ex, e, options, tls, /*select=*/false, this, library);
  nodes.emplace(std::move(key), c);
  c->start();
  return c;
}

void Client::Impl::route(RequestPtr req, std::string_view routingKey) {
  if (!started || stopped || broken) {
    complete(ex, std::move(req), Status::Unavailable, Reply{});
    return;
  }
  if (!options->cluster) {
    primary->send(std::move(req));  // fails fast (Unavailable) unless Up
    return;
  }
  Connection* target = nullptr;
  if (slotMapKnown) {
    if (!routingKey.empty()) {
      req->slot = slotOf(routingKey);
      req->routed = true;
      target = slots[req->slot];
    } else {
      for (Connection* m : masters) {
        if (m->up()) {
          target = m;
          break;
        }
      }
    }
  }
  if (target == nullptr) {
    requestRefresh();
    complete(ex, std::move(req), Status::Unavailable, Reply{});
    return;
  }
  if (!target->up()) {
    // The slot's master is down: a replica may have been promoted. Ask at once (at most every
    // kMinRefreshInterval) instead of waiting for that master's reconnect backoff, which
    // doubles up to reconnectMax (the failover test saw 3.1 s).
    requestRefresh();
  }
  target->send(std::move(req));
}

void Client::Impl::onReply(Connection& from, RequestPtr req, Status status, Reply&& reply) {
  if (status == Status::Ok && reply.isError() && !stopped) {
    if (options->cluster) {
      if (auto redirect = parseRedirect(reply.str)) {
        if (++req->redirects > kMaxRedirects) {
          core::logWarn("redis: too many cluster redirects", {{"last", reply.str}});
          complete(ex, std::move(req), Status::Protocol, std::move(reply));
          return;
        }
        if (redirect->to.host.empty()) {
          redirect->to.host = from.endpoint().host;
        }
        std::shared_ptr<Connection> target = node(redirect->to);
        if (redirect->ask) {
          target->send(std::move(req), Connection::Prefix::Asking, /*mayWait=*/true);
        } else {
          slots[redirect->slot] = target.get();
          requestRefresh();
          target->send(std::move(req), Connection::Prefix::None, /*mayWait=*/true);
        }
        return;
      }
    }
    if (req->script != nullptr && retryEval(from, *req, reply)) {
      from.send(std::move(req), Connection::Prefix::ScriptLoad);
      return;
    }
  }
  complete(ex, std::move(req), status, std::move(reply));
}

const EvalScript& Client::Impl::script(const Script& s) {
  auto [it, added] = scripts.try_emplace(s.sha1);
  if (added) {
    it->second.text = s.text;
    it->second.sha1 = s.sha1;
    if (library != nullptr) {
      for (const FunctionLibrary::Function& f : library->functions) {
        if (f.scriptSha1 == s.sha1) {
          it->second.function = f.name;
        }
      }
    }
  }
  return it->second;
}

bool Client::Impl::retryEval(Connection& from, Request& req, const Reply& reply) {
  // One reload and retry per way of running the script: NOSCRIPT after an EVALSHA, "Function
  // not found" after an FCALL. An FCALL whose reload failed (the connection has fallen back
  // to EVALSHA meanwhile) is retried once more, as an EVALSHA with SCRIPT LOAD.
  if (req.sentAsFunction) {
    if (!reply.str.starts_with("ERR Function not found")) {
      return false;
    }
    if (!req.functionReloaded) {
      req.functionReloaded = true;
      return true;
    }
    if (!from.functionsLoaded() && !req.scriptReloaded) {
      req.scriptReloaded = true;
      return true;
    }
    return false;
  }
  if (!reply.str.starts_with("NOSCRIPT") || req.scriptReloaded) {
    return false;
  }
  req.scriptReloaded = true;
  return true;
}

void Client::Impl::onStateChange(Connection& c) {
  if (stopped || !options->cluster || c.state() == Connection::State::Closed) {
    return;
  }
  if (c.up()) {
    if (!slotMapKnown) {
      requestRefresh();
    }
    return;
  }
  // A master that is not reachable may have failed over: ask the others who serves its slots.
  if (c.state() == Connection::State::Connecting || c.state() == Connection::State::Backoff) {
    for (Connection* m : masters) {
      if (m == &c) {
        requestRefresh();
        break;
      }
    }
  }
}

void Client::Impl::requestRefresh() {
  if (stopped || !options->cluster) {
    return;
  }
  if (refreshInFlight) {
    refreshAgain = true;
    return;
  }
  if (refreshScheduled) {
    return;
  }
  Clock::time_point at = lastRefresh + kMinRefreshInterval;
  if (Clock::now() >= at) {
    refreshNow();
    return;
  }
  refreshScheduled = true;
  refreshTimer.expires_at(at);
  refreshTimer.async_wait([weak = weak_from_this()](const io::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->stopped) {
      return;
    }
    self->refreshScheduled = false;
    self->refreshNow();
  });
}

void Client::Impl::refreshNow() {
  // Ask a master that is up, else any node that is up; with none up, make sure the seeds are
  // being dialled: the first to come up asks again (onStateChange).
  Connection* asked = nullptr;
  for (Connection* m : masters) {
    if (m->up()) {
      asked = m;
      break;
    }
  }
  if (asked == nullptr) {
    for (auto& [key, c] : nodes) {
      if (c->up()) {
        asked = c.get();
        break;
      }
    }
  }
  if (asked == nullptr) {
    for (const auto& seed : options->seeds) {
      node(seed);
    }
    return;
  }
  refreshInFlight = true;
  lastRefresh = Clock::now();
  auto req = std::make_unique<Request>();
  appendCommand(req->wire, {"CLUSTER", "SLOTS"});
  req->done = [weak = weak_from_this(), host = asked->endpoint().host](Status s, Reply&& r) {
    if (auto self = weak.lock()) {
      self->onSlots(s, std::move(r), host);
    }
  };
  asked->send(std::move(req));
}

void Client::Impl::onSlots(Status status, Reply&& reply, const std::string& askedHost) {
  refreshInFlight = false;
  if (stopped) {
    return;
  }
  std::optional<std::vector<SlotRange>> ranges;
  if (status == Status::Ok && !reply.isError()) {
    ranges = parseClusterSlots(reply, askedHost);
  }
  if (!ranges || ranges->empty()) {
    std::string why = status != Status::Ok ? std::string(statusName(status))
                      : reply.isError()    ? reply.str
                                           : std::string("unexpected reply");
    core::logWarn("redis: CLUSTER SLOTS failed", {{"error", why}});
  } else {
    applySlots(*ranges);
  }
  if (refreshAgain) {
    refreshAgain = false;
    requestRefresh();
  }
}

void Client::Impl::applySlots(const std::vector<SlotRange>& ranges) {
  std::vector<Connection*> next(kSlotCount, nullptr);
  std::vector<Connection*> owners;
  std::unordered_set<std::string> keep;
  for (const SlotRange& r : ranges) {
    std::shared_ptr<Connection> c = node(r.master);
    if (keep.insert(c->key()).second) {
      owners.push_back(c.get());
    }
    for (uint32_t s = r.first; s <= r.last; ++s) {
      next[s] = c.get();
    }
  }
  size_t moved = 0;
  for (size_t s = 0; s < kSlotCount; ++s) {
    moved += next[s] != slots[s];
  }
  slots.swap(next);
  masters.swap(owners);
  bool first = !slotMapKnown;
  slotMapKnown = true;
  // Nodes that serve no slot (replicas, removed or failed-over masters) are let go once their
  // requests in flight are answered.
  std::vector<std::shared_ptr<Connection>> retired;
  for (auto it = nodes.begin(); it != nodes.end();) {
    if (keep.count(it->first) == 0) {
      retired.push_back(std::move(it->second));
      it = nodes.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& c : retired) {
    c->detach();
    c->retire();
  }
  if (first || moved > 0) {
    core::logInfo(first ? "redis: cluster slot map loaded" : "redis: cluster slot map changed",
                  {{"masters", std::to_string(masters.size())},
                   {"slots_changed", std::to_string(moved)}});
  }
}

void Client::Impl::schedulePeriodic() {
  periodicTimer.expires_after(kPeriodicRefresh);
  periodicTimer.async_wait([weak = weak_from_this()](const io::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->stopped) {
      return;
    }
    self->requestRefresh();
    self->schedulePeriodic();
  });
}

Client::Client(boost::asio::any_io_executor ex, Options options)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(options))) {}

Client::~Client() { impl_->stop(); }

void Client::start() { impl_->start(); }

Callback Client::counted(Callback done) {
  ++impl_->outstanding;
  return [weak = std::weak_ptr<Impl>(impl_), done = std::move(done)](Status s, Reply&& r) {
    done(s, std::move(r));
    if (auto impl = weak.lock(); impl && --impl->outstanding == 0 && impl->stopWhenIdle) {
      impl->stop();
    }
  };
}

void Client::command(std::vector<std::string> args, std::string_view routingKey,
                     Callback done) {
  auto req = std::make_unique<Request>();
  appendCommand(req->wire, args);
  req->done = counted(std::move(done));
  impl_->route(std::move(req), routingKey);
}

void Client::eval(const Script& script, std::vector<std::string> keys,
                  std::vector<std::string> args, Callback done) {
  auto req = std::make_unique<Request>();
  std::string& w = req->wire;  // after the head (Connection::send): numkeys keys... args...
  req->evalArgs = 1 + keys.size() + args.size();
  appendBulk(w, std::to_string(keys.size()));
  for (const auto& k : keys) {
    appendBulk(w, k);
  }
  for (const auto& a : args) {
    appendBulk(w, a);
  }
  req->done = counted(std::move(done));
  req->script = &impl_->script(script);
  std::string_view routingKey = keys.empty() ? std::string_view() : std::string_view(keys[0]);
  impl_->route(std::move(req), routingKey);
}

Health Client::health() const { return impl_->healthy() ? Health::Up : Health::Down; }

void Client::stop() { impl_->stop(); }

void Client::stopWhenIdle() {
  impl_->stopWhenIdle = true;
  if (impl_->outstanding == 0) {
    impl_->stop();
  }
}

}  // namespace tg::redis
