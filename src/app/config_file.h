#pragma once
// The whole configuration file of a gateway: the proxy's Config (config/loader.h) plus the
// limiter's PolicySet, read from the `rate_limits:` and `higress:` sections of the same YAML
// document (limiter/config_reader.h). Lives in app/ because it is the one place that knows both
// modules. Like the parts it joins, loading never throws and never half-applies: either both
// parts are valid and cross-checked, or every error of both is returned.
//
// Cross-checks: a policy's `routes` must name existing routes; a route with `key_auth:
// required` needs at least one consumer. Notes (not errors) say what the operator should know,
// e.g. that a Higress `redis` block is accepted but the embedded store is in use.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/env.h"
#include "config/loader.h"
#include "limiter/policy.h"

namespace YAML {
class Node;
}

namespace tg::app {

struct GatewayConfig {
  config::Config config;
  std::shared_ptr<const limiter::PolicySet> policies;  // never null (may be empty)
};

struct GatewayLoadResult {
  std::optional<GatewayConfig> config;  // set only when errors is empty
  std::vector<config::ConfigError> errors;
  std::vector<std::string> notes;
};

GatewayLoadResult loadGatewayConfigString(std::string_view yaml, const config::EnvLookup& env);
GatewayLoadResult loadGatewayConfigFile(const std::string& file, const config::EnvLookup& env);

// Without a `store:` section, the first Higress config with a `redis` block selects the Redis
// store at its service_name:service_port (".static" / ".dns" registry suffixes removed: the rest
// is resolved as a host name), with its username, password, database and timeout.
void applyHigressRedis(config::Config& cfg, const limiter::PolicySet& set,
                       std::vector<std::string>& notes);

// Cross-checks of an already loaded pair. `root`: the YAML document, for the errors' line
// numbers (nullptr: lines unknown).
void crossCheck(const config::Config& cfg, const limiter::PolicySet& set,
                std::vector<config::ConfigError>& errors, std::vector<std::string>& notes,
                const YAML::Node* root = nullptr);

}  // namespace tg::app
