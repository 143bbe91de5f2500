#pragma once
// Higress `ai-token-ratelimit` compatibility: a plugin configuration, accepted UNCHANGED (the
// YAML or JSON a WasmPlugin's defaultConfig holds; read by config/read_higress.cc), converted
// into a native Policy (limiter/policy.h) with the same meaning (reference: higress.md §1.2-§1.6):
//
//   rule_name         -> Policy::name (configs with the same rule_name share counters, as in
//                        Higress, where it namespaces the Redis keys)
//   global_threshold  -> Rule "global_threshold", SelectorKind::Global
//   rule_items[i]     -> Rule "<limit_type>:<rule.Key>" (rule.Key as Higress: the header /
//                        param / cookie name, "x-mse-consumer" for both consumer types, the raw
//                        per_ip selector), one KeyEntry per limit_keys entry with its own limit
//   token_per_second|minute|hour|day -> Limit{TotalTokens, n, 1 s|60 s|3600 s|86400 s}
//   rejected_code / rejected_msg     -> Policy::rejectedCode / rejectedMsg
//   redis             -> Policy::redis (kept as data)
// and Policy::mode = HigressCompatible (check only, charge input+output after the response),
// reservation None, algorithm FixedWindow, keys first-match-wins, per_ip first listed CIDR.
//
// Deliberate differences, all documented in examples/higress-ai-token-ratelimit.yaml:
//   * fixed windows are aligned to the epoch (every instance agrees) instead of starting at the
//     first charge; over-limit rejects at `used > limit` exactly as Higress (CheckOnly mode);
//   * the consumer is the one key-auth authenticated (tokengate strips a client-sent
//     x-mse-consumer), never a header the client chose;
//   * bucket keys are tokengate's (limiter/rules.h, values escaped/hashed), not the Redis keys of
//     Higress: counters are not shared with a running Higress;
//   * ambiguous configs are REJECTED: several token_per_* in one entry (Higress picks one at
//     random), several limit_by_* in one item (Higress silently keeps the last);
//   * rejected_code must be an HTTP status 200-599 (Higress: any uint32);
//   * unknown keys are errors (a typo must not silently drop a limit), except
//     `show_limit_quota_header`, which old Higress READMEs showed and tokengate accepts (its
//     headers are always sent). The `_rules_` / `_match_*_` envelope is not supported yet
//     (TODO(higress-envelope): map `_match_route_` onto Policy::routes).
//
// Errors use Higress's wording where it has one (prefixed as Higress does), with the YAML path
// and line of the offending node.

#include <optional>
#include <vector>

#include "config/error.h"
#include "config/higress.h"
#include "limiter/policy.h"

namespace tg::limiter {

inline constexpr const char* kHigressDefaultRejectedMsg = "Too many requests";

// Compiles one ai-token-ratelimit config, already read by config/ (config/higress.h, which
// checks its shape), into a Policy. Appends every error found to `errors` (with the path and
// line carried in `c`); returns the Policy only when none was found in it.
std::optional<Policy> compileHigress(const config::HigressConfig& c,
                                     std::vector<config::ConfigError>& errors);

}  // namespace tg::limiter
