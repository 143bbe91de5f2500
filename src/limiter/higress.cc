#include "limiter/higress.h"

#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <charconv>
#include <utility>

#include "limiter/yaml_reader.h"

namespace tg::limiter {
namespace {

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

// Selector fields in Higress's evaluation order.
struct SelectorField {
  const char* name;
  SelectorKind kind;
  bool per;
};
constexpr std::array<SelectorField, 9> kSelectors = {{
    {"limit_by_header", SelectorKind::Header, false},
    {"limit_by_param", SelectorKind::Param, false},
    {"limit_by_cookie", SelectorKind::Cookie, false},
    {"limit_by_per_header", SelectorKind::Header, true},
    {"limit_by_per_param", SelectorKind::Param, true},
    {"limit_by_per_cookie", SelectorKind::Cookie, true},
    {"limit_by_consumer", SelectorKind::Consumer, false},
    {"limit_by_per_consumer", SelectorKind::Consumer, true},
    {"limit_by_per_ip", SelectorKind::ClientIp, true},
}};

constexpr const char* kOneOfSelectors =
    "at least one of 'limit_by_header', 'limit_by_param', 'limit_by_consumer', "
    "'limit_by_cookie', 'limit_by_per_header', 'limit_by_per_param', 'limit_by_per_consumer', "
    "'limit_by_per_cookie', 'limit_by_per_ip' must be set";

// The one token_per_* of a mapping (global_threshold or a limit_keys entry). `what` names it
// in messages; `prefix` is Higress's wrapper ("failed to parse global_threshold: ").
std::optional<Limit> readTokenLimit(YamlReader& r, const YAML::Node& n, const std::string& path,
                                    const std::string& prefix, const std::string& keyForMsg) {
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
  return Limit{Quantity::TotalTokens, static_cast<uint64_t>(value), field->window};
}

std::string exampleKey(const SelectorField& f) {
  if (f.kind == SelectorKind::ClientIp) {
    return "key: \"0.0.0.0/0\"";
  }
  if (f.per) {
    return "key: \"*\"";
  }
  return f.kind == SelectorKind::Consumer ? "key: \"<consumer-name>\"" : "key: \"<exact-value>\"";
}

void readRedis(YamlReader& r, const YAML::Node& n, const std::string& path, RedisSettings& out) {
  bool portSet = false;
  r.forKeys(n, path,
            {"service_name", "service_port", "username", "password", "timeout", "database"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              int64_t i = 0;
              if (k == "service_name") {
                r.str(v, p, out.serviceName);
              } else if (k == "service_port") {
                portSet = r.integer(v, p, 1, 65535, i);
                out.servicePort = static_cast<uint32_t>(i);
              } else if (k == "username") {
                r.str(v, p, out.username);
              } else if (k == "password") {
                r.str(v, p, out.password);
              } else if (k == "timeout") {
                if (r.integer(v, p, 0, 3'600'000, i)) {
                  out.timeout = Millis(i == 0 ? 1000 : i);
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
  if (!portSet) {
    const std::string_view kStatic = ".static";
    bool isStatic = out.serviceName.size() >= kStatic.size() &&
                    out.serviceName.compare(out.serviceName.size() - kStatic.size(), kStatic.size(),
                                            kStatic) == 0;
    out.servicePort = isStatic ? 80 : 6379;
  }
}

void readLimitKey(YamlReader& r, const YAML::Node& n, const std::string& path,
                  const SelectorField& sel, Rule& rule) {
  const std::string prefix = "failed to parse rule_item in rule_items: ";
  if (!n.IsMap()) {
    r.error(n, path,
            prefix +
                "each limit_keys entry must be a mapping with 'key' and one "
                "'token_per_*'");
    return;
  }
  std::string key;
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
    r.error(keyNode ? keyNode : n, path + ".key", prefix + "limit_keys key is required");
    return;
  }
  key = keyNode.Scalar();
  KeyEntry entry;
  entry.pattern.text = key;
  std::string keyPath = path + ".key";
  if (sel.kind == SelectorKind::ClientIp) {
    auto prefixIp = parseIpPrefix(key);
    if (!prefixIp) {
      r.error(keyNode, keyPath,
              prefix + "failed to parse IPNet for key '" + key + "': invalid IP[" + key + "]");
      bad = true;
    } else {
      entry.pattern.kind = KeyPattern::Kind::Cidr;
      entry.pattern.prefix = *prefixIp;
    }
  } else if (sel.per) {
    if (key == "*") {
      entry.pattern.kind = KeyPattern::Kind::Any;
    } else if (key.rfind("regexp:", 0) == 0) {
      entry.pattern.kind = KeyPattern::Kind::Regexp;
      entry.pattern.text = key.substr(7);
      RE2::Options opts;
      opts.set_log_errors(false);
      auto re = std::make_shared<const RE2>(entry.pattern.text, opts);
      if (!re->ok()) {
        r.error(keyNode, keyPath,
                prefix + "failed to compile regex for key '" + key + "': " + re->error());
        bad = true;
      }
      entry.pattern.re = std::move(re);
    } else {
      std::string nonPer = std::string(sel.name);
      nonPer.erase(nonPer.find("per_"), 4);
      r.error(keyNode, keyPath,
              prefix + "the \"" + sel.name +
                  "\" restriction must start with 'regexp:' or be exactly '*' (got \"" + key +
                  "\"); to match an exact name, use the non-per variant \"" + nonPer +
                  "\" instead (limit_keys stay the same)");
      bad = true;
    }
  } else {
    entry.pattern.kind = KeyPattern::Kind::Exact;
  }
  auto limit = readTokenLimit(r, n, path, prefix, key);
  if (!limit || bad) {
    return;
  }
  entry.limits.push_back(*limit);
  rule.keys.push_back(std::move(entry));
}

std::optional<Rule> readRuleItem(YamlReader& r, const YAML::Node& n, const std::string& path) {
  const std::string prefix = "failed to parse rule_item in rule_items: ";
  if (!n.IsMap()) {
    r.error(n, path, prefix + "must be a mapping");
    return std::nullopt;
  }
  size_t before = r.errorCount();
  std::vector<const SelectorField*> selectors;
  for (const auto& kv : n) {
    std::string k = kv.first.Scalar();
    bool known = k == "limit_keys";
    for (const auto& s : kSelectors) {
      if (k == s.name) {
        known = true;
        selectors.push_back(&s);
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
    for (const auto* s : selectors) {
      names += names.empty() ? "" : ", ";
      names += s->name;
    }
    r.error(n, path,
            prefix + "several selectors are set in one rule item (" + names +
                "); Higress would silently use only one of them. Put each selector in its own "
                "rule item");
    return std::nullopt;
  }
  const SelectorField& sel = *selectors.front();
  Rule rule;
  rule.selector = sel.kind;
  rule.perValue = sel.per;
  rule.longestPrefix = false;  // Higress: first listed CIDR that contains the IP
  YAML::Node selNode = n[sel.name];
  std::string selValue;
  std::string selPath = path + "." + sel.name;
  if (!r.str(selNode, selPath, selValue)) {
    return std::nullopt;
  }
  std::string ruleKey;
  switch (sel.kind) {
    case SelectorKind::Consumer:
      ruleKey = "x-mse-consumer";
      break;  // any value, even ''
    case SelectorKind::ClientIp:
      ruleKey = selValue;
      if (selValue == "from-remote-addr") {
        // RequestFacts::clientIp
      } else if (selValue.rfind("from-header-", 0) == 0) {
        rule.ipHeader = selValue.substr(12);
        if (rule.ipHeader.empty()) {
          r.error(selNode, selPath,
                  prefix + "limit_by_per_ip parse error: empty after 'from-header-'");
        }
      } else {
        r.error(selNode, selPath,
                prefix +
                    "the 'limit_by_per_ip' restriction must start with 'from-header-' or be "
                    "exactly 'from-remote-addr'");
      }
      break;
    default:
      if (selValue.empty()) {
        r.error(selNode, selPath,
                prefix + "'" + sel.name + "' must name a " + std::string(selectorName(sel.kind)) +
                    ", got ''");
      }
      ruleKey = selValue;
      rule.selectorName = selValue;
      break;
  }
  if (sel.kind == SelectorKind::ClientIp) {
    rule.selectorName = selValue;
  }
  rule.name = std::string(sel.name) + ":" + ruleKey;
  YAML::Node keys = n["limit_keys"];
  std::string keysPath = path + ".limit_keys";
  if (!keys || keys.IsNull()) {
    r.error(n, keysPath,
            prefix + "missing limit_keys in config for " + sel.name +
                "; add at least one entry, e.g. " + exampleKey(sel));
  } else if (!keys.IsSequence()) {
    r.error(keys, keysPath, prefix + "limit_keys must be a list");
  } else if (keys.size() == 0) {
    r.error(keys, keysPath,
            prefix + "config limit_keys cannot be empty for " + sel.name +
                "; add at least one entry, e.g. " + exampleKey(sel));
  } else {
    for (size_t i = 0; i < keys.size(); ++i) {
      readLimitKey(r, keys[i], keysPath + "[" + std::to_string(i) + "]", sel, rule);
    }
  }
  if (r.errorCount() != before) {
    return std::nullopt;
  }
  return rule;
}

}  // namespace

std::optional<Policy> readHigressConfig(const YAML::Node& node, const std::string& path,
                                        std::vector<config::ConfigError>& errors,
                                        const config::EnvLookup* env) {
  YamlReader r(errors, env);
  size_t before = errors.size();
  auto sub = [&](const char* k) { return path.empty() ? std::string(k) : path + "." + k; };
  if (!node.IsMap()) {
    r.error(node, path, "an ai-token-ratelimit config must be a mapping");
    return std::nullopt;
  }
  Policy p;
  p.higress = true;
  p.mode = PolicyMode::HigressCompatible;
  p.reservation = ReservationMode::None;
  p.algorithm = store::Algorithm::FixedWindow;
  p.rejectedMsg = kHigressDefaultRejectedMsg;
  bool haveRuleName = false, haveRedis = false, haveGlobal = false, haveItems = false;
  Rule global;
  std::vector<Rule> items;
  r.forKeys(node, path,
            {"rule_name", "global_threshold", "rule_items", "rejected_code", "rejected_msg",
             "redis", "show_limit_quota_header"},
            [&](const std::string& k, const YAML::Node& v, const std::string& kp) {
              if (k == "rule_name") {
                haveRuleName = r.str(v, kp, p.name);
              } else if (k == "redis") {
                haveRedis = true;
                RedisSettings rs;
                if (!v.IsMap()) {
                  r.error(v, kp, "missing redis in config");
                  return;
                }
                readRedis(r, v, kp, rs);
                p.redis = std::move(rs);
              } else if (k == "global_threshold") {
                haveGlobal = true;
                if (!v.IsMap()) {
                  r.error(v, kp,
                          std::string("failed to parse global_threshold: ") + kOneOfTokenFields +
                              " for global_threshold");
                  return;
                }
                r.forKeys(
                    v, kp,
                    {"token_per_second", "token_per_minute", "token_per_hour", "token_per_day"},
                    [](const std::string&, const YAML::Node&, const std::string&) {});
                auto limit = readTokenLimit(r, v, kp, "failed to parse global_threshold: ", "");
                if (limit) {
                  global.name = "global_threshold";
                  global.selector = SelectorKind::Global;
                  global.limits.push_back(*limit);
                }
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
                  auto rule = readRuleItem(r, v[i], kp + "[" + std::to_string(i) + "]");
                  if (rule) {
                    items.push_back(std::move(*rule));
                  }
                }
              } else if (k == "rejected_code") {
                int64_t c = 0;
                if (r.integer(v, kp, 200, 599, c)) {
                  p.rejectedCode = static_cast<uint32_t>(c);
                }
              } else if (k == "rejected_msg") {
                r.str(v, kp, p.rejectedMsg);
              } else if (k == "show_limit_quota_header") {
                bool ignored = false;
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
  if (errors.size() != before) {
    return std::nullopt;
  }
  if (haveGlobal) {
    p.rules.push_back(std::move(global));
  }
  for (auto& rule : items) {
    p.rules.push_back(std::move(rule));
  }
  return p;
}

std::optional<Policy> parseHigressConfig(const std::string& text,
                                         std::vector<config::ConfigError>& errors) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {  // startup only: config parsing, never the request path
    errors.push_back({"", e.mark.line + 1, std::string("invalid YAML: ") + e.msg});
    return std::nullopt;
  }
  return readHigressConfig(root, "", errors, nullptr);
}

}  // namespace tg::limiter
