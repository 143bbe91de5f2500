#pragma once
// Reads the limiter's configuration sections into a compiled PolicySet (limiter/policy.h):
//   rate_limits: the native section (named so beside the main file's `limits:`, which holds
//             the HTTP request limits) (consumers, key sources, policies), schema documented key by
//             key in examples/limits.yaml;
//   higress:  one Higress ai-token-ratelimit plugin config, or a list of them, unchanged
//             (limiter/higress.h; example in examples/higress-ai-token-ratelimit.yaml).
// Both may be present; Higress policies come after the native ones (so native rules decide
// first in ReserveResult::decisiveIndex order).
//
// Like config/loader.h, reading never throws and never half-applies: the result holds either a
// complete PolicySet or every error found, each with its YAML path ("rate_limits.policies[0].rules[2]
// .limits[0].per") and 1-based line. Unknown keys are errors. The main loader calls
// readLimitsConfig with the two nodes of its document; the *String variant is for tests and
// tools.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/env.h"
#include "config/loader.h"
#include "limiter/policy.h"

namespace YAML {
class Node;
}

namespace tg::limiter {

struct LimitsLoadResult {
  std::optional<PolicySet> policies;  // set only when errors is empty
  std::vector<config::ConfigError> errors;
};

// `limits` / `higress`: the nodes of the two sections (an undefined or null node = absent).
// `limitsPath` / `higressPath` prefix the error paths. `env`: ${ENV} substitution, nullptr =
// none.
LimitsLoadResult readLimitsConfig(const YAML::Node& limits, const YAML::Node& higress,
                                  const config::EnvLookup* env = nullptr,
                                  const std::string& limitsPath = "rate_limits",
                                  const std::string& higressPath = "higress");

// A YAML document whose top level has `rate_limits:` and/or `higress:` (other keys are errors).
LimitsLoadResult loadLimitsString(std::string_view yaml, const config::EnvLookup* env = nullptr);

// "+08:00", "-05:30", "+8", "UTC", "Z" -> minutes east of UTC; nullopt otherwise (IANA names
// included: see policy.h on time zones).
std::optional<int> parseUtcOffset(std::string_view text);

}  // namespace tg::limiter
