#pragma once
// The whole configuration file of a gateway: the file is parsed ONCE by config/ (config/loader.h:
// every section into plain structs), the proxy's Config is validated as a whole, and the
// `rate_limits:` / `higress:` structs are compiled into the limiter's PolicySet
// (limiter/compile.h). Lives in app/ because it is the one place that knows both modules. Like
// the parts it joins, loading never throws and never half-applies: either both parts are valid
// and cross-checked, or every error of both is returned.
//
// A FRAGMENT is a file without `listeners:` (e.g. examples/limits.yaml, only `rate_limits:`):
// checkFragment() reads every section present and compiles the rate-limit ones, without the
// whole-config checks, so `tokengate check` can validate a file that holds some sections.
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
// The same from an already read document (config::readDocument).
GatewayLoadResult loadGatewayConfig(config::ReadResult read);

// What checkFragment() found: the sections present and every error of them.
struct FragmentCheck {
  std::vector<std::string> sections;
  std::vector<config::ConfigError> errors;
  size_t policies = 0;   // rate-limit policies compiled (native and Higress)
  size_t consumers = 0;  // rate_limits.consumers
};

// True when `read` is a YAML mapping without `listeners:`: not a whole gateway configuration.
bool isFragment(const config::ReadResult& read);
// Checks each section of a fragment on its own: the readers' errors plus the limiter's
// compile errors of `rate_limits:` and `higress:`; no whole-config checks or cross-checks.
FragmentCheck checkFragment(const config::ReadResult& read);

// Without a `store:` section, the first Higress config with a `redis` block selects the Redis
// store at its service_name:service_port (".static" / ".dns" registry suffixes removed: the rest
// is resolved as a host name), with its username, password, database and timeout.
void applyHigressRedis(config::Config& cfg, const limiter::PolicySet& set,
                       std::vector<std::string>& notes);

// Cross-checks of an already loaded pair. `doc`: the document they were read from, for the
// errors' lines (nullptr: lines unknown).
void crossCheck(const config::Config& cfg, const limiter::PolicySet& set,
                std::vector<config::ConfigError>& errors, std::vector<std::string>& notes,
                const config::Document* doc = nullptr);

}  // namespace tg::app
