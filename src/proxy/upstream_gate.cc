#include "proxy/upstream_gate.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/stats.h"

namespace tg::proxy {

namespace net = http::net;

// One queued request, owned by its coroutine (the queue holds a plain pointer while it is
// queued). `granted`, `queued` and the tag are guarded by the gate's mutex; the timer is
// touched on its own executor only.
struct UpstreamGate::Waiter : std::enable_shared_from_this<Waiter> {
  Waiter(UpstreamGate& g, net::any_io_executor ex) : gate(g), timer(ex) {}
  // A coroutine destroyed while it waits (its worker stopping) takes its waiter out.
  ~Waiter() {
    core::MutexLock lock(gate.mu_);
    if (queued) {
      gate.queue_.erase(tag, false);
      gate.serveWaiters();
    }
  }
  UpstreamGate& gate;
  net::steady_timer timer;
  limiter::FairQueue::Tag tag;
  bool queued = false;
  bool granted = false;
};

UpstreamGate::Ticket& UpstreamGate::Ticket::operator=(Ticket&& o) noexcept {
  if (this != &o) {
    release();
    gate_ = std::move(o.gate_);
    cost_ = o.cost_;
  }
  return *this;
}

void UpstreamGate::Ticket::release() {
  if (gate_) {
    std::shared_ptr<UpstreamGate> g = std::move(gate_);
    gate_.reset();
    g->leave(cost_);
  }
}

UpstreamGate::UpstreamGate(config::UpstreamGateConfig limits, Metrics m)
    : limits_(limits), m_(std::move(m)) {}

void UpstreamGate::setLimits(const config::UpstreamGateConfig& limits) {
  core::MutexLock lock(mu_);
  limits_ = limits;
  serveWaiters();  // raised limits let waiters in at once
}

bool UpstreamGate::fits(uint64_t cost) const {
  if (inFlight_ == 0) {
    return true;  // alone, any request fits: a large one is never refused for its size
  }
  if (limits_.maxConcurrent > 0 && inFlight_ >= limits_.maxConcurrent) {
    return false;
  }
  return limits_.maxTokensInFlight == 0 || tokens_ + cost <= limits_.maxTokensInFlight;
}

void UpstreamGate::admit(uint64_t cost) {
  ++inFlight_;
  tokens_ += cost;
}

void UpstreamGate::publish() {
  m_.inFlight.set(static_cast<double>(inFlight_));
  m_.tokensInFlight.set(static_cast<double>(tokens_));
  m_.queued.set(static_cast<double>(queue_.size()));
}

void UpstreamGate::serveWaiters() {
  while (!queue_.empty()) {
    const limiter::FairQueue::Tag head = queue_.head();
    if (!fits(head.cost)) {
      break;  // the head waits for room: nobody passes it
    }
    admit(head.cost);
    Waiter* w = static_cast<Waiter*>(head.item);
    w->granted = true;
    w->queued = false;
    net::post(w->timer.get_executor(), [s = w->shared_from_this()] { s->timer.cancel(); });
    queue_.erase(head, true);
  }
  publish();
}

void UpstreamGate::leave(uint64_t cost) {
  core::MutexLock lock(mu_);
  inFlight_ = inFlight_ > 0 ? inFlight_ - 1 : 0;
  tokens_ = tokens_ >= cost ? tokens_ - cost : 0;
  serveWaiters();
}

uint32_t UpstreamGate::inFlight() const {
  core::MutexLock lock(mu_);
  return inFlight_;
}

size_t UpstreamGate::queued() const {
  core::MutexLock lock(mu_);
  return queue_.size();
}

http::Task<UpstreamGate::Entry> UpstreamGate::enter(std::string_view key, uint64_t cost,
                                                    double weight) {
  Entry e;
  const auto t0 = std::chrono::steady_clock::now();
  const net::any_io_executor ex = co_await net::this_coro::executor;
  std::shared_ptr<Waiter> w;
  {
    core::MutexLock lock(mu_);
    if (queue_.empty() && fits(cost)) {
      admit(cost);
      publish();
      e.ticket = Ticket(shared_from_this(), cost);
      m_.wait.observe(0);
      co_return e;
    }
    if (queue_.size() >= limits_.maxQueued || limits_.maxWait.count() == 0) {
      e.refused = Refusal::QueueFull;
      m_.refusedFull.inc();
      co_return e;
    }
    w = std::make_shared<Waiter>(*this, ex);
    w->tag = queue_.push(key, cost, weight, w.get());
    w->queued = true;
    w->timer.expires_after(limits_.maxWait);
    publish();
  }
  http::error_code ec;
  co_await w->timer.async_wait(net::redirect_error(net::use_awaitable, ec));
  e.waited = std::chrono::steady_clock::now() - t0;
  {
    core::MutexLock lock(mu_);
    if (w->granted) {
      e.ticket = Ticket(shared_from_this(), cost);
    } else {
      queue_.erase(w->tag, false);  // timed out (or the worker is stopping)
      w->queued = false;
      e.refused = Refusal::Timeout;
      m_.refusedTimeout.inc();
      serveWaiters();  // the head may have been this one
    }
  }
  m_.wait.observe(std::chrono::duration<double>(e.waited).count());
  co_return e;
}

UpstreamGates::UpstreamGates(ProxyStats* stats) : stats_(stats) {}

std::vector<std::shared_ptr<UpstreamGate>> UpstreamGates::forConfig(const config::Config& cfg) {
  core::MutexLock lock(mu_);
  std::vector<std::shared_ptr<UpstreamGate>> out;
  for (const config::UpstreamConfig& u : cfg.upstreams) {
    if (!u.gate.enabled()) {
      out.push_back(nullptr);
      continue;
    }
    auto it = gates_.find(u.name);
    if (it != gates_.end()) {
      it->second->setLimits(u.gate);
      out.push_back(it->second);
      continue;
    }
    UpstreamGate::Metrics m;
    if (stats_ != nullptr) {
      m.inFlight = stats_->upstreamInFlight.labels({u.name});
      m.tokensInFlight = stats_->upstreamTokensInFlight.labels({u.name});
      m.queued = stats_->upstreamQueued.labels({u.name});
      m.refusedFull = stats_->upstreamQueueRefused.labels({u.name, "full"});
      m.refusedTimeout = stats_->upstreamQueueRefused.labels({u.name, "timeout"});
      m.wait = stats_->upstreamQueueWait.labels({u.name});
    }
    auto g = std::make_shared<UpstreamGate>(u.gate, m);
    gates_.emplace(u.name, g);
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace tg::proxy
