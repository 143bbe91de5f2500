#pragma once
// UpstreamGate: keeps an upstream (typically a self-hosted vLLM / llama.cpp / Ollama server)
// out of overload. At most `maxConcurrent` requests and `maxTokensInFlight` tokens (each
// request counts its prompt estimate + output cap) are in progress at once, across every
// worker of the process; a request beyond that waits in a fair queue until a request in
// progress ends, at most `maxWait`, and the queue holds at most `maxQueued` waiters.
//
// Fairness: start-time fair queueing over tokens (limiter::FairQueue, the admission queue's
// too). A key (a consumer, or the client address for anonymous callers) that sends many
// requests queues behind the others instead of ahead of them, in proportion to the tokens it
// asks for. The head waiter is served only when it fits (a request larger than
// maxTokensInFlight fits when nothing else is in progress), so a large request is never
// starved by small ones. Queue operations are O(log n).
//
// Thread safety: every member is safe from any thread (one mutex). A waiter is woken on its
// own executor (asio::post), so a coroutine always resumes on its connection's thread.
//
// Lifetime: gates live in an UpstreamGates registry shared by the workers and kept across
// reloads (by upstream name: a reload that changes the limits applies them to the requests in
// progress and waiting). A Ticket returns its share when destroyed or release()d.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/config.h"
#include "core/thread_annotations.h"
#include "http/net.h"
#include "limiter/fair_queue.h"
#include "metrics/registry.h"

namespace tg::proxy {

struct ProxyStats;

class UpstreamGate : public std::enable_shared_from_this<UpstreamGate> {
 public:
  // The gauges and counters of this upstream (tokengate_upstream_*; null families = none).
  struct Metrics {
    metrics::Gauge inFlight;
    metrics::Gauge tokensInFlight;
    metrics::Gauge queued;
    metrics::Counter refusedFull;
    metrics::Counter refusedTimeout;
    metrics::Histogram wait;
  };

  UpstreamGate(config::UpstreamGateConfig limits, Metrics m);
  void setLimits(const config::UpstreamGateConfig& limits);

  // A request's share of the upstream while it is in progress.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& o) noexcept : gate_(std::move(o.gate_)), cost_(o.cost_) {}
    Ticket& operator=(Ticket&& o) noexcept;
    ~Ticket() { release(); }
    void release();
    explicit operator bool() const { return gate_ != nullptr; }

   private:
    friend class UpstreamGate;
    Ticket(std::shared_ptr<UpstreamGate> g, uint64_t cost) : gate_(std::move(g)), cost_(cost) {}
    std::shared_ptr<UpstreamGate> gate_;
    uint64_t cost_ = 0;
  };

  enum class Refusal : uint8_t { None, QueueFull, Timeout };
  struct Entry {
    Ticket ticket;               // set when the request may go
    Refusal refused = Refusal::None;
    std::chrono::nanoseconds waited{0};
  };
  // Enters the gate for a request of `cost` tokens from `key` (weight >= 1), waiting in the
  // queue when it does not fit. Never throws.
  http::Task<Entry> enter(std::string_view key, uint64_t cost, double weight = 1.0);

  // For tests and the admin API.
  uint32_t inFlight() const;
  size_t queued() const;

 private:
  struct Waiter;
  bool fits(uint64_t cost) const TG_REQUIRES(mu_);
  void admit(uint64_t cost) TG_REQUIRES(mu_);
  void serveWaiters() TG_REQUIRES(mu_);
  void leave(uint64_t cost);
  void publish() TG_REQUIRES(mu_);

  mutable core::Mutex mu_;
  config::UpstreamGateConfig limits_ TG_GUARDED_BY(mu_);
  uint32_t inFlight_ TG_GUARDED_BY(mu_) = 0;
  uint64_t tokens_ TG_GUARDED_BY(mu_) = 0;
  limiter::FairQueue queue_ TG_GUARDED_BY(mu_);  // of Waiter*, alive while queued
  Metrics m_;
};

// The gates of a process, by upstream name (see UpstreamGate's lifetime).
class UpstreamGates {
 public:
  // `stats`: where the gates' series live (ProxyStats' tokengate_upstream_* families); null =
  // no metrics.
  explicit UpstreamGates(ProxyStats* stats);
  // One entry per upstream of `cfg`, in order: its gate (created, or the existing one with the
  // new limits), or null when it has no limits.
  std::vector<std::shared_ptr<UpstreamGate>> forConfig(const config::Config& cfg);

 private:
  core::Mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<UpstreamGate>> gates_ TG_GUARDED_BY(mu_);
  ProxyStats* stats_;
};

}  // namespace tg::proxy
