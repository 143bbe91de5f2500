// One Higress ai-token-ratelimit config (config/higress.h) into a Policy (limiter/higress.h).
// config/read_higress.cc has checked the shape; this file checks the selectors' values and the
// limit keys (CIDRs, regexes, the per_ forms) with Higress's wording.
#include "limiter/higress.h"

#include <utility>

namespace tg::limiter {
namespace {

using config::HigressSelector;

struct SelectorKindOf {
  SelectorKind kind;
  bool per;
};

SelectorKindOf kindOf(HigressSelector s) {
  switch (s) {
    case HigressSelector::LimitByHeader:
      return {SelectorKind::Header, false};
    case HigressSelector::LimitByParam:
      return {SelectorKind::Param, false};
    case HigressSelector::LimitByCookie:
      return {SelectorKind::Cookie, false};
    case HigressSelector::LimitByPerHeader:
      return {SelectorKind::Header, true};
    case HigressSelector::LimitByPerParam:
      return {SelectorKind::Param, true};
    case HigressSelector::LimitByPerCookie:
      return {SelectorKind::Cookie, true};
    case HigressSelector::LimitByConsumer:
      return {SelectorKind::Consumer, false};
    case HigressSelector::LimitByPerConsumer:
      return {SelectorKind::Consumer, true};
    case HigressSelector::LimitByPerIp:
      return {SelectorKind::ClientIp, true};
  }
  return {SelectorKind::Header, false};
}

constexpr const char* kPrefix = "failed to parse rule_item in rule_items: ";

Limit limitOf(const config::HigressTokenLimit& l) {
  return Limit{Quantity::TotalTokens, l.tokens, l.window};
}

class HigressCompiler {
 public:
  explicit HigressCompiler(std::vector<config::ConfigError>& errors) : errors_(errors) {}

  void error(const config::Mark& m, const std::string& msg) {
    errors_.push_back(config::errorAt(m, kPrefix + msg));
  }

  // false when the key is rejected (reported).
  bool limitKey(const config::HigressLimitKey& in, HigressSelector sel, KeyEntry& entry) {
    const std::string& key = in.key;
    const char* selName = config::higressSelectorName(sel);
    SelectorKindOf k = kindOf(sel);
    entry.pattern.text = key;
    if (k.kind == SelectorKind::ClientIp) {
      auto prefixIp = parseIpPrefix(key);
      if (!prefixIp) {
        error(in.keyMark, "failed to parse IPNet for key '" + key + "': invalid IP[" + key + "]");
        return false;
      }
      entry.pattern.kind = KeyPattern::Kind::Cidr;
      entry.pattern.prefix = *prefixIp;
    } else if (k.per) {
      std::string err;
      if (wildcardPattern(key, entry.pattern, err)) {
        if (!err.empty()) {
          error(in.keyMark, "failed to compile regex for key '" + key + "': " + err);
          return false;
        }
      } else {
        std::string nonPer = selName;
        nonPer.erase(nonPer.find("per_"), 4);
        error(in.keyMark, std::string("the \"") + selName +
                              "\" restriction must start with 'regexp:' or be exactly '*' (got \"" +
                              key + "\"); to match an exact name, use the non-per variant \"" +
                              nonPer + "\" instead (limit_keys stay the same)");
        return false;
      }
    } else {
      entry.pattern.kind = KeyPattern::Kind::Exact;
    }
    entry.limits.push_back(limitOf(in.limit));
    return true;
  }

  std::optional<Rule> ruleItem(const config::HigressRuleItem& in) {
    size_t before = errors_.size();
    const char* selName = config::higressSelectorName(in.selector);
    SelectorKindOf k = kindOf(in.selector);
    Rule rule;
    rule.selector = k.kind;
    rule.perValue = k.per;
    rule.longestPrefix = false;  // Higress: first listed CIDR that contains the IP
    const std::string& value = in.value;
    std::string ruleKey;
    switch (k.kind) {
      case SelectorKind::Consumer:
        ruleKey = "x-mse-consumer";
        break;  // any value, even ''
      case SelectorKind::ClientIp:
        ruleKey = value;
        rule.selectorName = value;
        if (value == "from-remote-addr") {
          // RequestFacts::clientIp
        } else if (value.rfind("from-header-", 0) == 0) {
          rule.ipHeader = value.substr(12);
          if (rule.ipHeader.empty()) {
            error(in.valueMark, "limit_by_per_ip parse error: empty after 'from-header-'");
          }
        } else {
          error(in.valueMark,
                "the 'limit_by_per_ip' restriction must start with 'from-header-' or be "
                "exactly 'from-remote-addr'");
        }
        break;
      default:
        if (value.empty()) {
          error(in.valueMark, std::string("'") + selName + "' must name a " +
                                  std::string(selectorName(k.kind)) + ", got ''");
        }
        ruleKey = value;
        rule.selectorName = value;
        break;
    }
    rule.name = std::string(selName) + ":" + ruleKey;
    for (const auto& lk : in.limitKeys) {
      KeyEntry entry;
      if (limitKey(lk, in.selector, entry)) {
        rule.keys.push_back(std::move(entry));
      }
    }
    if (errors_.size() != before) {
      return std::nullopt;
    }
    return rule;
  }

 private:
  std::vector<config::ConfigError>& errors_;
};

}  // namespace

std::optional<Policy> compileHigress(const config::HigressConfig& c,
                                     std::vector<config::ConfigError>& errors) {
  size_t before = errors.size();
  Policy p;
  p.name = c.ruleName;
  p.higress = true;
  p.mode = PolicyMode::HigressCompatible;
  p.reservation = ReservationMode::None;
  p.algorithm = store::Algorithm::FixedWindow;
  p.rejectedMsg = c.rejectedMsg.value_or(kHigressDefaultRejectedMsg);
  p.rejectedCode = c.rejectedCode.value_or(p.rejectedCode);
  RedisSettings rs;
  rs.serviceName = c.redis.serviceName;
  rs.username = c.redis.username;
  rs.password = c.redis.password;
  rs.database = c.redis.database;
  if (c.redis.timeoutMs) {
    rs.timeout = Millis(*c.redis.timeoutMs == 0 ? 1000 : *c.redis.timeoutMs);
  }
  if (c.redis.servicePort) {
    rs.servicePort = *c.redis.servicePort;
  } else {
    rs.servicePort = c.redis.serviceName.ends_with(".static") ? 80 : 6379;
  }
  p.redis = std::move(rs);
  if (c.globalThreshold) {
    Rule global;
    global.name = "global_threshold";
    global.selector = SelectorKind::Global;
    global.limits.push_back(limitOf(*c.globalThreshold));
    p.rules.push_back(std::move(global));
  }
  HigressCompiler compiler(errors);
  for (const auto& item : c.ruleItems) {
    if (auto rule = compiler.ruleItem(item)) {
      p.rules.push_back(std::move(*rule));
    }
  }
  if (errors.size() != before) {
    return std::nullopt;
  }
  return p;
}

}  // namespace tg::limiter
