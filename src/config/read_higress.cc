// `higress:` into config::HigressConfig (config/higress.h): one ai-token-ratelimit plugin
// config or a list of them, with Higress's error wording (prefixed as Higress does).
#include <array>
#include <charconv>

#include "config/sections.h"

namespace tg::config {
namespace {

using Millis = std::chrono::milliseconds;

struct TokenField {
  const char* name;
  Millis window;
};
constexpr std::array<TokenField, 4> kTokenFields = {{{"token_per_second", Millis(1'000)},
                                                     {"token_per_minute", Millis(60'000)},
                                                     {"token_per_hour", Millis(3'600'000)},
                                                     {"token_per_day", Millis(86'400'000)}}};

constexpr const char* kOneOfTokenFields =
    "one of 'token_per_second', 'token_per_minute', 'token_per_hour', or 'token_per_day' must be "
    "set";

constexpr std::array<HigressSelector, 9> kSelectors = {
    HigressSelector::LimitByHeader,   HigressSelector::LimitByParam,
    HigressSelector::LimitByCookie,   HigressSelector::LimitByPerHeader,
    HigressSelector::LimitByPerParam, HigressSelector::LimitByPerCookie,
    HigressSelector::LimitByConsumer, HigressSelector::LimitByPerConsumer,
    HigressSelector::LimitByPerIp,
};

constexpr const char* kOneOfSelectors =
    "at least one of 'limit_by_header', 'limit_by_param', 'limit_by_consumer', "
    "'limit_by_cookie', 'limit_by_per_header', 'limit_by_per_param', 'limit_by_per_consumer', "
    "'limit_by_per_cookie', 'limit_by_per_ip' must be set";

constexpr const char* kItemPrefix = "failed to parse rule_item in rule_items: ";

// The one token_per_* of a mapping (global_threshold or a limit_keys entry). `prefix` is
// Higress's wrapper ("failed to parse global_threshold: ").
std::optional<HigressTokenLimit> readTokenLimit(Reader& r, const YAML::Node& n,
                                                const std::string& path, const std::string& prefix,
                                                const std::string& keyForMsg) {
  std::vector<std::pair<const TokenField*, YAML::Node>> found;
  for (const auto& f : kTokenFields) {
    YAML::Node v = n[f.name];
    if (v) {
      found.emplace_back(&f, v);
    }
  }
  if (found.empty()) {
    r.error(n, path,
            prefix + kOneOfTokenFields +
                (keyForMsg.empty() ? " for global_threshold" : " for key: " + keyForMsg));
    return std::nullopt;
  }
  if (found.size() > 1) {
    std::string names;
    for (const auto& [f, v] : found) {
      names += names.empty() ? "" : ", ";
      names += f->name;
    }
    r.error(n, path,
            prefix + "several of 'token_per_*' are set (" + names +
                "); Higress would use one of them at random. Set exactly one; for several "
                "windows use one entry (or rule item) per window");
    return std::nullopt;
  }
  const auto& [field, v] = found.front();
  std::string sub = path.empty() ? field->name : path + "." + field->name;
  std::string s;
  int64_t value = 0;
  bool ok = v.IsScalar();
  if (ok) {
    s = v.Scalar();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    ok = !s.empty() && ec == std::errc() && p == s.data() + s.size() && value > 0;
  }
  if (!ok) {
    r.error(v, sub,
            prefix + "'" + field->name + "' must be a positive integer" +
                (keyForMsg.empty() ? "" : " for key '" + keyForMsg + "'") + ", got " +
                (s.empty() ? "0" : s));
    return std::nullopt;
  }
  return HigressTokenLimit{static_cast<uint64_t>(value), field->window};
}

std::string exampleKey(HigressSelector s) {
  switch (s) {
    case HigressSelector::LimitByPerIp:
      return "key: \"0.0.0.0/0\"";
    case HigressSelector::LimitByPerHeader:
    case HigressSelector::LimitByPerParam:
    case HigressSelector::LimitByPerCookie:
    case HigressSelector::LimitByPerConsumer:
      return "key: \"*\"";
    case HigressSelector::LimitByConsumer:
      return "key: \"<consumer-name>\"";
    default:
      return "key: \"<exact-value>\"";
  }
}

void readRedis(Reader& r, const YAML::Node& n, const std::string& path, HigressRedisConfig& out) {
  r.forKeys(n, path,
            {"service_name", "service_port", "username", "password", "timeout", "database"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              int64_t i = 0;
              if (k == "service_name") {
                r.str(v, p, out.serviceName);
              } else if (k == "service_port") {
                if (r.integer(v, p, 1, 65535, i)) {
                  out.servicePort = static_cast<uint32_t>(i);
                }
              } else if (k == "username") {
                r.str(v, p, out.username);
              } else if (k == "password") {
                r.str(v, p, out.password);
              } else if (k == "timeout") {
                if (r.integer(v, p, 0, 3'600'000, i)) {
                  out.timeoutMs = i;
                }
              } else if (k == "database") {
                if (r.integer(v, p, 0, 1'000'000, i)) {
                  out.database = static_cast<uint32_t>(i);
                }
              }
            });
  if (out.serviceName.empty()) {
    r.error(n, path + ".service_name", "redis service name must not be empty");
  }
}

void readLimitKey(Reader& r, const YAML::Node& n, const std::string& path,
                  std::vector<HigressLimitKey>& out) {
  if (!n.IsMap()) {
    r.error(n, path,
            std::string(kItemPrefix) +
                "each limit_keys entry must be a mapping with 'key' and one "
                "'token_per_*'");
    return;
  }
  bool bad = false;
  for (const auto& kv : n) {
    std::string k = kv.first.Scalar();
    bool known = k == "key";
    for (const auto& f : kTokenFields) {
      known = known || k == f.name;
    }
    if (!known) {
      r.error(kv.first, path + "." + k, "unknown key");
      bad = true;
    }
  }
  YAML::Node keyNode = n["key"];
  if (!keyNode || keyNode.IsNull() || !keyNode.IsScalar() || keyNode.Scalar().empty()) {
    r.error(keyNode ? keyNode : n, path + ".key",
            std::string(kItemPrefix) + "limit_keys key is required");
    return;
  }
  HigressLimitKey entry;
  entry.key = keyNode.Scalar();
  entry.keyMark = Reader::markOf(keyNode, path + ".key");
  auto limit = readTokenLimit(r, n, path, kItemPrefix, entry.key);
  if (!limit || bad) {
    return;
  }
  entry.limit = *limit;
  out.push_back(std::move(entry));
}

std::optional<HigressRuleItem> readRuleItem(Reader& r, const YAML::Node& n,
                                            const std::string& path) {
  const std::string prefix = kItemPrefix;
  if (!n.IsMap()) {
    r.error(n, path, prefix + "must be a mapping");
    return std::nullopt;
  }
  size_t before = r.errorCount();
  std::vector<HigressSelector> selectors;
  for (const auto& kv : n) {
    std::string k = kv.first.Scalar();
    bool known = k == "limit_keys";
    for (auto s : kSelectors) {
      if (k == higressSelectorName(s)) {
        known = true;
        selectors.push_back(s);
      }
    }
    if (!known) {
      r.error(kv.first, path + "." + k, "unknown key");
    }
  }
  if (selectors.empty()) {
    r.error(n, path, prefix + kOneOfSelectors);
    return std::nullopt;
  }
  if (selectors.size() > 1) {
    std::string names;
    for (auto s : selectors) {
      names += names.empty() ? "" : ", ";
      names += higressSelectorName(s);
    }
    r.error(n, path,
            prefix + "several selectors are set in one rule item (" + names +
                "); Higress would silently use only one of them. Put each selector in its own "
                "rule item");
    return std::nullopt;
  }
  HigressRuleItem item;
  item.mark = Reader::markOf(n, path);
  item.selector = selectors.front();
  const char* selName = higressSelectorName(item.selector);
  YAML::Node selNode = n[selName];
  item.valueMark = Reader::markOf(selNode, path + "." + selName);
  if (!r.str(selNode, item.valueMark.path, item.value)) {
    return std::nullopt;
  }
  YAML::Node keys = n["limit_keys"];
  std::string keysPath = path + ".limit_keys";
  if (!keys || keys.IsNull()) {
    r.error(n, keysPath,
            prefix + "missing limit_keys in config for " + selName +
                "; add at least one entry, e.g. " + exampleKey(item.selector));
  } else if (!keys.IsSequence()) {
    r.error(keys, keysPath, prefix + "limit_keys must be a list");
  } else if (keys.size() == 0) {
    r.error(keys, keysPath,
            prefix + "config limit_keys cannot be empty for " + selName +
                "; add at least one entry, e.g. " + exampleKey(item.selector));
  } else {
    for (size_t i = 0; i < keys.size(); ++i) {
      readLimitKey(r, keys[i], keysPath + "[" + std::to_string(i) + "]", item.limitKeys);
    }
  }
  if (r.errorCount() != before) {
    return std::nullopt;
  }
  return item;
}

}  // namespace

const char* higressSelectorName(HigressSelector s) {
  switch (s) {
    case HigressSelector::LimitByHeader:
      return "limit_by_header";
    case HigressSelector::LimitByParam:
      return "limit_by_param";
    case HigressSelector::LimitByCookie:
      return "limit_by_cookie";
    case HigressSelector::LimitByPerHeader:
      return "limit_by_per_header";
    case HigressSelector::LimitByPerParam:
      return "limit_by_per_param";
    case HigressSelector::LimitByPerCookie:
      return "limit_by_per_cookie";
    case HigressSelector::LimitByConsumer:
      return "limit_by_consumer";
    case HigressSelector::LimitByPerConsumer:
      return "limit_by_per_consumer";
    case HigressSelector::LimitByPerIp:
      return "limit_by_per_ip";
  }
  return "limit_by_header";
}

bool readHigressConfig(Reader& r, const YAML::Node& node, const std::string& path,
                       HigressConfig& c) {
  size_t before = r.errorCount();
  auto sub = [&](const char* k) { return path.empty() ? std::string(k) : path + "." + k; };
  if (!node.IsMap()) {
    r.error(node, path, "an ai-token-ratelimit config must be a mapping");
    return false;
  }
  c.mark = Reader::markOf(node, path);
  bool haveRuleName = false, haveRedis = false, haveGlobal = false, haveItems = false;
  r.forKeys(
      node, path,
      {"rule_name", "global_threshold", "rule_items", "rejected_code", "rejected_msg", "redis",
       "show_limit_quota_header"},
      [&](const std::string& k, const YAML::Node& v, const std::string& kp) {
        if (k == "rule_name") {
          haveRuleName = r.str(v, kp, c.ruleName);
        } else if (k == "redis") {
          haveRedis = true;
          if (!v.IsMap()) {
            r.error(v, kp, "missing redis in config");
            return;
          }
          readRedis(r, v, kp, c.redis);
        } else if (k == "global_threshold") {
          haveGlobal = true;
          if (!v.IsMap()) {
            r.error(v, kp,
                    std::string("failed to parse global_threshold: ") + kOneOfTokenFields +
                        " for global_threshold");
            return;
          }
          r.forKeys(v, kp,
                    {"token_per_second", "token_per_minute", "token_per_hour", "token_per_day"},
                    [](const std::string&, const YAML::Node&, const std::string&) {});
          c.globalThreshold = readTokenLimit(r, v, kp, "failed to parse global_threshold: ", "");
        } else if (k == "rule_items") {
          haveItems = true;
          if (!v.IsSequence()) {
            r.error(v, kp, "rule_items must be a list");
            return;
          }
          if (v.size() == 0) {
            r.error(v, kp, "config rule_items cannot be empty");
            return;
          }
          if (v.size() > kHigressMaxRuleItems) {
            r.error(v, kp,
                    "rule_items length " + std::to_string(v.size()) + " exceeds maximum " +
                        std::to_string(kHigressMaxRuleItems));
            return;
          }
          for (size_t i = 0; i < v.size(); ++i) {
            if (auto item = readRuleItem(r, v[i], kp + "[" + std::to_string(i) + "]")) {
              c.ruleItems.push_back(std::move(*item));
            }
          }
        } else if (k == "rejected_code") {
          int64_t code = 0;
          if (r.integer(v, kp, 200, 599, code)) {
            c.rejectedCode = static_cast<uint32_t>(code);
          }
        } else if (k == "rejected_msg") {
          std::string msg;
          if (r.str(v, kp, msg)) {
            c.rejectedMsg = msg;
          }
        } else if (k == "show_limit_quota_header") {
          bool ignored = false;  // accepted: tokengate always sends the headers
          r.boolean(v, kp, ignored);
        }
      });
  if (!haveRedis) {
    r.error(node, sub("redis"), "missing redis in config");
  }
  if (!haveRuleName) {
    r.error(node, sub("rule_name"), "missing rule_name in config");
  }
  if (!haveGlobal && !haveItems) {
    r.error(node, path, "at least one of 'global_threshold' or 'rule_items' must be set");
  }
  return r.errorCount() == before;
}

void readHigress(Reader& r, const YAML::Node& n, const std::string& path,
                 std::vector<HigressConfig>& out) {
  if (!n || n.IsNull()) {
    return;
  }
  auto one = [&](const YAML::Node& v, const std::string& p) {
    HigressConfig c;
    if (readHigressConfig(r, v, p, c)) {
      out.push_back(std::move(c));
    }
  };
  if (n.IsSequence()) {
    r.list(n, path, one);
  } else {
    one(n, path);
  }
}

}  // namespace tg::config
