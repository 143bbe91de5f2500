#pragma once
// The `higress:` section as plain data: one Higress `ai-token-ratelimit` plugin configuration
// (or a list of them), as the plugin's YAML or JSON says it. Read by config/ (read_higress.cc),
// which checks the shape with Higress's wording (missing rule_name / redis, one token_per_* per
// entry, one selector per rule item, rule_items count); limiter::compileHigress
// (limiter/compile.h) checks the keys (CIDRs, regexes, per_ selectors) and builds the Policy.
// Reference and deliberate differences: limiter/higress.h.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/error.h"

namespace tg::config {

inline constexpr size_t kHigressMaxRuleItems = 10;

// The one token_per_second|minute|hour|day of a global_threshold or limit_keys entry.
struct HigressTokenLimit {
  uint64_t tokens = 0;
  std::chrono::milliseconds window{0};  // 1 s, 60 s, 3600 s or 86400 s
};

// The selector fields of a rule item, in Higress's evaluation order.
enum class HigressSelector {
  LimitByHeader,
  LimitByParam,
  LimitByCookie,
  LimitByPerHeader,
  LimitByPerParam,
  LimitByPerCookie,
  LimitByConsumer,
  LimitByPerConsumer,
  LimitByPerIp,
};
const char* higressSelectorName(HigressSelector s);  // "limit_by_per_ip", ...

struct HigressLimitKey {
  std::string key;
  Mark keyMark;  // the `key:` value
  HigressTokenLimit limit;
};

struct HigressRuleItem {
  Mark mark;  // the item
  HigressSelector selector = HigressSelector::LimitByHeader;
  std::string value;  // the selector's value (header name, "from-header-x", ...)
  Mark valueMark;
  std::vector<HigressLimitKey> limitKeys;
};

struct HigressRedisConfig {
  std::string serviceName;
  std::optional<uint32_t> servicePort;
  std::string username;
  std::string password;
  std::optional<int64_t> timeoutMs;
  uint32_t database = 0;
};

struct HigressConfig {
  Mark mark;  // the config
  std::string ruleName;
  std::optional<HigressTokenLimit> globalThreshold;
  std::vector<HigressRuleItem> ruleItems;
  std::optional<uint32_t> rejectedCode;
  std::optional<std::string> rejectedMsg;
  HigressRedisConfig redis;  // required by Higress
};

}  // namespace tg::config
