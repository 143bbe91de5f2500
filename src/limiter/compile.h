#pragma once
// Compiles the plain rate-limit config structs (config/rate_limits.h, config/higress.h; read
// from YAML by config/, the only module that reads YAML) into the PolicySet the rules layer
// matches (limiter/policy.h): regexes built, IPs parsed, time zones loaded, keys hashed,
// keywords turned into enums, limiter defaults applied. Semantic errors (an invalid regex, a
// duplicate policy name, a rule without limits, ...) are reported with the YAML path and line
// carried in the structs (config::Mark). Compiling never throws and never half-applies: the
// result holds either a complete PolicySet or every error found.
//
// The sections compose as in the file: native policies first, then the Higress ones (so
// native rules decide first in ReserveResult::decisiveIndex order). Pure: no I/O except the
// system tz database, read for IANA time-zone names.

#include <optional>
#include <string_view>
#include <vector>

#include "config/error.h"
#include "config/higress.h"
#include "config/rate_limits.h"
#include "limiter/policy.h"

namespace tg::limiter {

struct LimitsLoadResult {
  std::optional<PolicySet> policies;  // set only when errors is empty
  std::vector<config::ConfigError> errors;
};

// The `rate_limits:` section.
LimitsLoadResult compile(const config::RateLimitsConfig& limits);
// Both sections of a file: `rate_limits:` then every `higress:` config.
LimitsLoadResult compile(const config::RateLimitsConfig& limits,
                         const std::vector<config::HigressConfig>& higress);

// "+08:00", "-05:30", "+8", "UTC", "Z" -> minutes east of UTC; nullopt otherwise (IANA names
// included: see policy.h on time zones).
std::optional<int> parseUtcOffset(std::string_view text);

}  // namespace tg::limiter
