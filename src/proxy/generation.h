#pragma once
// Generation: what a config reload replaces, as one worker uses it: the config, the policies,
// and the upstreams and breakers built from the config's upstreams. A request pins the
// generation it started with (Exchange::gen), so a reload never changes anything under a
// request in flight: its route, upstream, pool and policies stay those it was admitted with,
// and the old generation is freed when its last request ends. Immutable once published,
// except the breakers' own state (per worker, so no locks).

#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.h"
#include "http/upstream_pool.h"
#include "limiter/policy.h"
#include "proxy/breaker.h"
#include "proxy/upstream_gate.h"

namespace tg::proxy {

struct Generation {
  uint64_t number = 0;
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const limiter::PolicySet> policies;     // never null (may be empty)
  std::shared_ptr<http::Upstreams> upstreams;             // the worker's pool, or a test's fake
  std::vector<std::shared_ptr<CircuitBreaker>> breakers;  // per upstream, null = none
  std::vector<std::shared_ptr<UpstreamGate>> gates;       // per upstream, null = none
  UpstreamGate* gate(size_t index) const {
    return index < gates.size() ? gates[index].get() : nullptr;
  }
  CircuitBreaker* breaker(size_t index) const {
    return index < breakers.size() ? breakers[index].get() : nullptr;
  }
};

}  // namespace tg::proxy
