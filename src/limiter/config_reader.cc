#include "limiter/config_reader.h"

#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <set>

#include "core/strings.h"
#include "limiter/higress.h"
#include "limiter/rules.h"
#include "limiter/timezone.h"
#include "limiter/yaml_reader.h"

namespace tg::limiter {
namespace {

using Tiers = std::vector<std::pair<std::string, std::vector<Limit>>>;

std::optional<Millis> windowNamed(const std::string& s) {
  if (s == "second") return Millis(1'000);
  if (s == "minute") return Millis(60'000);
  if (s == "hour") return Millis(3'600'000);
  if (s == "day") return Millis(86'400'000);
  return std::nullopt;
}

struct QuantityField {
  const char* name;
  Quantity q;
};
constexpr QuantityField kQuantities[] = {
    {"tokens", Quantity::TotalTokens},
    {"total_tokens", Quantity::TotalTokens},
    {"input_tokens", Quantity::InputTokens},
    {"output_tokens", Quantity::OutputTokens},
    {"weighted_tokens", Quantity::WeightedTokens},
    {"requests", Quantity::Requests},
    {"concurrent", Quantity::Concurrent},
};

class NativeReader {
 public:
  NativeReader(YamlReader& r) : r_(r) {}

  void limit(const YAML::Node& n, const std::string& path, std::vector<Limit>& out) {
    if (!n.IsMap()) {
      r_.error(n, path, "a limit must be a mapping such as {tokens: 100000, per: minute}");
      return;
    }
    Limit l;
    int quantities = 0;
    bool havePer = false;
    bool ok = true;
    YAML::Node perNode;
    r_.forKeys(n, path,
               {"tokens", "total_tokens", "input_tokens", "output_tokens", "weighted_tokens",
                "requests", "concurrent", "per"},
               [&](const std::string& k, const YAML::Node& v, const std::string& p) {
                 if (k == "per") {
                   havePer = true;
                   perNode = v;
                   std::string s;
                   if (!r_.str(v, p, s)) {
                     ok = false;
                     return;
                   }
                   if (auto w = windowNamed(s)) {
                     l.window = *w;
                   } else if (!r_.duration(v, p, false, l.window)) {
                     ok = false;
                   }
                   return;
                 }
                 for (const auto& q : kQuantities) {
                   if (k == q.name) {
                     ++quantities;
                     l.quantity = q.q;
                   }
                 }
                 int64_t v64 = 0;
                 if (r_.integer(v, p, 1, INT64_MAX, v64)) {
                   l.limit = static_cast<uint64_t>(v64);
                 } else {
                   ok = false;
                 }
               });
    if (quantities != 1) {
      r_.error(n, path,
               "a limit needs exactly one of tokens, input_tokens, output_tokens, "
               "weighted_tokens, requests, concurrent (one window per limit; list several "
               "limits for several windows)");
      return;
    }
    if (l.quantity == Quantity::Concurrent) {
      if (havePer) {
        r_.error(perNode, path + ".per", "a concurrent limit has no window");
        return;
      }
    } else if (!havePer) {
      r_.error(n, path + ".per", "missing: second, minute, hour, day or a duration such as 5m");
      return;
    }
    if (ok) {
      out.push_back(l);
    }
  }

  void limits(const YAML::Node& n, const std::string& path, std::vector<Limit>& out) {
    r_.list(n, path, [&](const YAML::Node& v, const std::string& p) { limit(v, p, out); });
    std::set<std::pair<int, int64_t>> seen;
    for (const auto& l : out) {
      if (!seen.insert({static_cast<int>(l.quantity), l.window.count()}).second) {
        r_.error(
            n, path,
            "two limits count " + std::string(quantityName(l.quantity)) + " over the same window");
        return;
      }
    }
  }

  void tiersMap(const YAML::Node& n, const std::string& path, Tiers& out) {
    if (!n || n.IsNull()) {
      return;
    }
    if (!n.IsMap()) {
      r_.error(n, path, "must be a mapping of label value to a list of limits");
      return;
    }
    for (const auto& kv : n) {
      std::string name = kv.first.Scalar();
      std::vector<Limit> ls;
      limits(kv.second, path + "." + name, ls);
      if (ls.empty()) {
        r_.error(kv.second, path + "." + name, "a tier needs at least one limit");
      }
      out.emplace_back(name, std::move(ls));
    }
  }

  bool clock(const YAML::Node& n, const std::string& path, int& minute) {
    std::string s;
    if (!r_.str(n, path, s)) {
      return false;
    }
    int h = -1, m = -1;
    if (s.size() == 5 && s[2] == ':') {
      std::from_chars(s.data(), s.data() + 2, h);
      std::from_chars(s.data() + 3, s.data() + 5, m);
    }
    if (h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0)) {
      r_.error(n, path, "must be a time of day HH:MM (00:00 to 24:00), got '" + s + "'");
      return false;
    }
    minute = h * 60 + m;
    return true;
  }

  void days(const YAML::Node& n, const std::string& path, uint8_t& mask) {
    static const char* kNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    auto dayIndex = [&](std::string_view s) {
      for (int i = 0; i < 7; ++i) {
        if (core::iequals(s, kNames[i])) return i;
      }
      return -1;
    };
    mask = 0;
    auto one = [&](const YAML::Node& v, const std::string& p) {
      std::string s;
      if (!r_.str(v, p, s)) {
        return;
      }
      auto dash = s.find('-');
      int a = dayIndex(s.substr(0, dash));
      int b = dash == std::string::npos ? a : dayIndex(s.substr(dash + 1));
      if (a < 0 || b < 0) {
        r_.error(v, p, "must be a weekday (sun, mon, ... sat) or a range such as mon-fri");
        return;
      }
      for (int d = a;; d = (d + 1) % 7) {
        mask |= static_cast<uint8_t>(1 << d);
        if (d == b) break;
      }
    };
    if (n.IsScalar()) {
      one(n, path);
    } else {
      r_.list(n, path, one);
    }
  }

  void schedule(const YAML::Node& n, const std::string& path, Schedule& s) {
    bool haveFrom = false, haveTo = false;
    r_.forKeys(n, path, {"days", "from", "to", "limits", "tiers"},
               [&](const std::string& k, const YAML::Node& v, const std::string& p) {
                 if (k == "days") {
                   days(v, p, s.weekdays);
                 } else if (k == "from") {
                   haveFrom = clock(v, p, s.startMinute);
                 } else if (k == "to") {
                   haveTo = clock(v, p, s.endMinute);
                 } else if (k == "limits") {
                   limits(v, p, s.limits);
                 } else if (k == "tiers") {
                   tiersMap(v, p, s.tiers);
                 }
               });
    if (!haveFrom || !haveTo) {
      r_.error(n, path,
               "a schedule needs from and to (HH:MM, local time of the policy's "
               "time_zone)");
    }
    if (s.limits.empty() && s.tiers.empty()) {
      r_.error(n, path, "a schedule needs limits or tiers");
    }
  }

  void keyEntry(const YAML::Node& n, const std::string& path, const Rule& rule, KeyEntry& e) {
    // yaml-cpp: assigning to a Node that already refers to a node REWRITES that node, so
    // keyNode starts default-constructed and is only bound once.
    YAML::Node keyNode;
    std::string keyPath = path;
    if (!n.IsMap()) {
      keyNode = n;
    } else {
      r_.forKeys(n, path, {"key", "limits"},
                 [&](const std::string& k, const YAML::Node& v, const std::string& p) {
                   if (k == "key") {
                     keyNode = v;
                     keyPath = p;
                   } else {
                     limits(v, p, e.limits);
                   }
                 });
    }
    std::string key;
    if (!keyNode || !r_.str(keyNode, keyPath, key) || key.empty()) {
      r_.error(n, keyPath, "a key entry needs a non-empty key");
      return;
    }
    e.pattern.text = key;
    if (key == "*") {
      e.pattern.kind = KeyPattern::Kind::Any;
    } else if (key.rfind("regexp:", 0) == 0) {
      e.pattern.kind = KeyPattern::Kind::Regexp;
      e.pattern.text = key.substr(7);
      RE2::Options opts;
      opts.set_log_errors(false);
      auto re = std::make_shared<const RE2>(e.pattern.text, opts);
      if (!re->ok()) {
        r_.error(keyNode, keyPath, "invalid RE2 regular expression: " + re->error());
      }
      e.pattern.re = std::move(re);
    } else if (rule.selector == SelectorKind::ClientIp) {
      auto p = parseIpPrefix(key);
      if (!p) {
        r_.error(keyNode, keyPath, "must be an IP address or CIDR (10.0.0.0/8), got '" + key + "'");
        return;
      }
      e.pattern.kind = KeyPattern::Kind::Cidr;
      e.pattern.prefix = *p;
    } else {
      e.pattern.kind = KeyPattern::Kind::Exact;
    }
  }

  void rule(const YAML::Node& n, const std::string& path, Rule& rule) {
    std::string by;
    YAML::Node byNode, keysNode, nameNode;
    std::string headerName, paramName, cookieName;
    r_.forKeys(n, path,
               {"name", "by", "header", "param", "cookie", "keys", "limits", "tiers", "schedules",
                "fallback", "max_keys", "penalty", "shadow"},
               [&](const std::string& k, const YAML::Node& v, const std::string& p) {
                 int64_t i = 0;
                 if (k == "name") {
                   r_.str(v, p, rule.name);
                 } else if (k == "by") {
                   byNode = v;
                   r_.str(v, p, by);
                 } else if (k == "header") {
                   r_.str(v, p, headerName);
                 } else if (k == "param") {
                   r_.str(v, p, paramName);
                 } else if (k == "cookie") {
                   r_.str(v, p, cookieName);
                 } else if (k == "keys") {
                   keysNode = v;
                 } else if (k == "limits") {
                   limits(v, p, rule.limits);
                 } else if (k == "tiers") {
                   tiersMap(v, p, rule.tiers);
                 } else if (k == "schedules") {
                   r_.list(v, p, [&](const YAML::Node& s, const std::string& sp) {
                     Schedule sch;
                     schedule(s, sp, sch);
                     rule.schedules.push_back(std::move(sch));
                   });
                 } else if (k == "fallback") {
                   limits(v, p, rule.fallback);
                 } else if (k == "max_keys") {
                   if (r_.integer(v, p, 1, INT64_MAX, i)) {
                     rule.maxKeys = static_cast<uint64_t>(i);
                   }
                 } else if (k == "penalty") {
                   Millis d{0};
                   if (r_.duration(v, p, true, d)) {
                     rule.penalty = d;
                   }
                 } else if (k == "shadow") {
                   bool b = false;
                   if (r_.boolean(v, p, b)) {
                     rule.shadow = b;
                   }
                 }
               });
    std::string base = by.rfind("per_", 0) == 0 ? by.substr(4) : by;
    rule.perValue = base != by;
    static const std::pair<const char*, SelectorKind> kKinds[] = {
        {"global", SelectorKind::Global},  {"consumer", SelectorKind::Consumer},
        {"api_key", SelectorKind::ApiKey}, {"header", SelectorKind::Header},
        {"param", SelectorKind::Param},    {"cookie", SelectorKind::Cookie},
        {"ip", SelectorKind::ClientIp},    {"model", SelectorKind::Model}};
    bool known = false;
    for (const auto& [name, kind] : kKinds) {
      if (base == name) {
        known = true;
        rule.selector = kind;
      }
    }
    if (!known || by == "per_global") {
      r_.error(byNode ? byNode : n, path + ".by",
               "must be one of global, consumer, per_consumer, api_key, per_api_key, header, "
               "per_header, param, per_param, cookie, per_cookie, ip, per_ip, model, per_model; "
               "got '" +
                   by + "'");
      return;
    }
    auto needName = [&](SelectorKind k, const char* key, const std::string& value) {
      if (rule.selector == k) {
        if (value.empty()) {
          r_.error(n, path + "." + key, std::string("by: ") + by + " needs " + key + ": <name>");
        }
        rule.selectorName = value;
      } else if (!value.empty()) {
        r_.error(n, path + "." + key, std::string(key) + " is only for by: [per_]" + key);
      }
    };
    needName(SelectorKind::Header, "header", headerName);
    needName(SelectorKind::Param, "param", paramName);
    needName(SelectorKind::Cookie, "cookie", cookieName);
    if (rule.name.empty()) {
      rule.name = by + (rule.selectorName.empty() ? "" : ":" + rule.selectorName);
    }
    r_.list(keysNode, path + ".keys", [&](const YAML::Node& v, const std::string& p) {
      KeyEntry e;
      keyEntry(v, p, rule, e);
      rule.keys.push_back(std::move(e));
    });
    if (rule.selector == SelectorKind::Global &&
        (!rule.keys.empty() || !rule.fallback.empty() || rule.maxKeys != 0)) {
      r_.error(n, path, "a global rule takes no keys, fallback or max_keys");
    }
    if (!rule.perValue && rule.selector != SelectorKind::Global && rule.keys.empty()) {
      r_.error(n, path + ".keys",
               "by: " + by + " counts only listed values: add keys (or use by: per_" + by +
                   " for one counter per value)");
    }
    if (!rule.perValue && rule.maxKeys != 0) {
      r_.error(n, path + ".max_keys", "max_keys is only for per_ rules");
    }
    bool anyLimits = !rule.limits.empty() || !rule.tiers.empty() || !rule.schedules.empty();
    for (const auto& e : rule.keys) {
      anyLimits = anyLimits || !e.limits.empty();
      if (e.limits.empty() && rule.limits.empty() && rule.tiers.empty()) {
        r_.error(n, path + ".limits",
                 "key '" + e.pattern.text +
                     "' has no limits and the rule "
                     "has none to inherit");
        break;
      }
    }
    if (!anyLimits) {
      r_.error(n, path + ".limits", "a rule needs limits");
    }
  }

  void weights(const YAML::Node& n, const std::string& path, TokenWeights& w) {
    r_.forKeys(n, path, {"input", "cached_input", "output"},
               [&](const std::string& k, const YAML::Node& v, const std::string& p) {
                 r_.number(v, p, k == "input" ? w.input : k == "output" ? w.output : w.cachedInput);
               });
  }

  void policy(const YAML::Node& n, const std::string& path, Policy& p) {
    bool modeHigress = false;
    bool reservationSet = false;
    r_.forKeys(
        n, path,
        {"name", "routes", "algorithm", "mode", "reservation", "default_max_tokens", "weights",
         "time_zone", "tier_label", "penalty", "shadow", "concurrency_lease", "rejected_code",
         "rejected_msg", "store_failure", "local_share", "rules"},
        [&](const std::string& k, const YAML::Node& v, const std::string& kp) {
          std::string s;
          int64_t i = 0;
          if (k == "name") {
            r_.str(v, kp, p.name);
          } else if (k == "routes") {
            r_.list(v, kp, [&](const YAML::Node& rv, const std::string& rp) {
              std::string route;
              if (r_.str(rv, rp, route)) {
                p.routes.push_back(route);
              }
            });
          } else if (k == "algorithm") {
            r_.str(v, kp, s);
            if (s == "fixed_window") {
              p.algorithm = store::Algorithm::FixedWindow;
            } else if (s == "sliding_window") {
              p.algorithm = store::Algorithm::SlidingWindow;
            } else if (s == "token_bucket") {
              p.algorithm = store::Algorithm::TokenBucket;
            } else {
              r_.error(v, kp,
                       "must be fixed_window, sliding_window or token_bucket, got '" + s + "'");
            }
          } else if (k == "mode") {
            r_.str(v, kp, s);
            if (s == "strict") {
              p.mode = PolicyMode::Strict;
            } else if (s == "higress_compatible") {
              p.mode = PolicyMode::HigressCompatible;
              modeHigress = true;
            } else {
              r_.error(v, kp, "must be strict or higress_compatible, got '" + s + "'");
            }
          } else if (k == "reservation") {
            reservationSet = true;
            r_.str(v, kp, s);
            if (s == "none") {
              p.reservation = ReservationMode::None;
            } else if (s == "prompt") {
              p.reservation = ReservationMode::PromptOnly;
            } else if (s == "prompt_plus_max") {
              p.reservation = ReservationMode::PromptPlusMax;
            } else {
              r_.error(v, kp, "must be none, prompt or prompt_plus_max, got '" + s + "'");
            }
          } else if (k == "default_max_tokens") {
            if (r_.integer(v, kp, 1, INT64_MAX, i)) {
              p.defaultMaxTokens = static_cast<uint64_t>(i);
            }
          } else if (k == "weights") {
            weights(v, kp, p.weights);
          } else if (k == "time_zone") {
            if (r_.str(v, kp, s)) {
              // A fixed offset first ("+08:00", "UTC"), else an IANA name read from the tz
              // database ($TZDIR or /usr/share/zoneinfo) now, at load time.
              if (auto off = parseUtcOffset(s)) {
                p.timeZone = TimeZone::fixed(*off * 60, s);
              } else if (auto tz = loadTimeZone(s)) {
                p.timeZone = std::move(*tz);
              } else {
                r_.error(v, kp,
                         "must be an IANA time zone such as Europe/Berlin or a fixed UTC offset "
                         "such as +08:00, -05:30 or UTC: " +
                             tz.error());
              }
            }
          } else if (k == "tier_label") {
            r_.str(v, kp, p.tierLabel);
          } else if (k == "penalty") {
            r_.duration(v, kp, true, p.penalty);
          } else if (k == "shadow") {
            r_.boolean(v, kp, p.shadow);
          } else if (k == "concurrency_lease") {
            r_.duration(v, kp, true, p.concurrencyLease);
          } else if (k == "rejected_code") {
            if (r_.integer(v, kp, 200, 599, i)) {
              p.rejectedCode = static_cast<uint32_t>(i);
            }
          } else if (k == "rejected_msg") {
            r_.str(v, kp, p.rejectedMsg);
          } else if (k == "store_failure") {
            if (r_.str(v, kp, s)) {
              if (s == "open") {
                p.storeFailure = StoreFailureMode::Open;
              } else if (s == "closed") {
                p.storeFailure = StoreFailureMode::Closed;
              } else if (s == "local") {
                p.storeFailure = StoreFailureMode::Local;
              } else {
                r_.error(v, kp, "must be open, closed or local, got '" + s + "'");
              }
            }
          } else if (k == "local_share") {
            double d = 0;
            if (r_.number(v, kp, d)) {
              if (!(d > 0 && d <= 1)) {
                r_.error(v, kp, "must be in (0, 1]");
              } else {
                p.localShare = d;
              }
            }
          } else if (k == "rules") {
            r_.list(v, kp, [&](const YAML::Node& rv, const std::string& rp) {
              Rule rule;
              size_t before = r_.errorCount();
              this->rule(rv, rp, rule);
              if (r_.errorCount() == before) {
                for (const auto& other : p.rules) {
                  if (other.name == rule.name) {
                    r_.error(rv, rp + ".name",
                             "duplicate rule name '" + rule.name + "' (name the rules)");
                  }
                }
              }
              p.rules.push_back(std::move(rule));
            });
          }
        });
    if (p.name.empty()) {
      r_.error(n, path + ".name", "a policy needs a name (it is part of every bucket key)");
    }
    if (p.rules.empty()) {
      r_.error(n, path + ".rules", "a policy needs at least one rule");
    }
    if (modeHigress) {
      if (reservationSet && p.reservation != ReservationMode::None) {
        r_.error(n, path + ".reservation",
                 "mode higress_compatible charges after the response: reservation must be none");
      }
      p.reservation = ReservationMode::None;
    }
  }

  void consumer(const YAML::Node& n, const std::string& path, Consumer& c) {
    r_.forKeys(n, path, {"name", "keys", "labels"},
               [&](const std::string& k, const YAML::Node& v, const std::string& p) {
                 if (k == "name") {
                   r_.str(v, p, c.name);
                 } else if (k == "keys") {
                   r_.list(v, p, [&](const YAML::Node& kv, const std::string& kp) {
                     std::string key;
                     if (!r_.str(kv, kp, key) || key.empty()) {
                       r_.error(kv, kp, "a key must be a non-empty string");
                       return;
                     }
                     ApiKey a;
                     if (key.rfind("sha256:", 0) == 0) {
                       std::string hex = key.substr(7);
                       bool ok = hex.size() == 64;
                       for (size_t i = 0; ok && i < 32; ++i) {
                         auto [ptr, ec] = std::from_chars(hex.data() + 2 * i,
                                                          hex.data() + 2 * i + 2, a.sha256[i], 16);
                         ok = ec == std::errc() && ptr == hex.data() + 2 * i + 2;
                       }
                       if (!ok) {
                         r_.error(kv, kp, "sha256: must be followed by 64 hex digits");
                         return;
                       }
                       a.hashed = true;
                     } else {
                       a.sha256 = sha256Of(key);
                     }
                     a.id = c.name + "#" + std::to_string(c.keys.size());
                     c.keys.push_back(a);
                   });
                 } else if (k == "labels") {
                   if (!v.IsMap()) {
                     r_.error(v, p, "must be a mapping of label to value");
                     return;
                   }
                   for (const auto& lv : v) {
                     std::string val;
                     if (r_.str(lv.second, p + "." + lv.first.Scalar(), val)) {
                       c.labels.emplace_back(lv.first.Scalar(), val);
                     }
                   }
                 }
               });
    if (c.name.empty()) {
      r_.error(n, path + ".name", "a consumer needs a name");
    }
    for (size_t i = 0; i < c.keys.size(); ++i) {
      c.keys[i].id = c.name + "#" + std::to_string(i);
    }
  }

  void keySource(const YAML::Node& n, const std::string& path, std::vector<KeySource>& out) {
    if (n.IsScalar()) {
      std::string s = n.Scalar();
      if (s == "bearer" || s == "authorization") {
        out.push_back({KeySource::Kind::AuthorizationBearer, ""});
      } else if (s == "x-api-key") {
        out.push_back({KeySource::Kind::XApiKey, ""});
      } else {
        r_.error(n, path, "must be bearer, x-api-key, {header: NAME} or {query: NAME}");
      }
      return;
    }
    r_.forKeys(
        n, path, {"header", "query"},
        [&](const std::string& k, const YAML::Node& v, const std::string& p) {
          std::string name;
          if (r_.str(v, p, name) && !name.empty()) {
            out.push_back({k == "header" ? KeySource::Kind::Header : KeySource::Kind::QueryParam,
                           k == "header" ? core::toLower(name) : name});
          } else {
            r_.error(v, p, "must name a header or query parameter");
          }
        });
  }

  void limitsSection(const YAML::Node& n, const std::string& path, PolicySet& set) {
    r_.forKeys(n, path, {"key_sources", "consumers", "policies"},
               [&](const std::string& k, const YAML::Node& v, const std::string& p) {
                 if (k == "key_sources") {
                   r_.list(v, p, [&](const YAML::Node& sv, const std::string& sp) {
                     keySource(sv, sp, set.keySources);
                   });
                 } else if (k == "consumers") {
                   r_.list(v, p, [&](const YAML::Node& cv, const std::string& cp) {
                     Consumer c;
                     consumer(cv, cp, c);
                     for (const auto& other : set.consumers) {
                       if (other.name == c.name) {
                         r_.error(cv, cp + ".name", "duplicate consumer '" + c.name + "'");
                       }
                       for (const auto& a : other.keys) {
                         for (const auto& b : c.keys) {
                           if (a.sha256 == b.sha256) {
                             r_.error(
                                 cv, cp + ".keys",
                                 "a key of '" + c.name + "' is also a key of '" + other.name + "'");
                           }
                         }
                       }
                     }
                     set.consumers.push_back(std::move(c));
                   });
                 } else if (k == "policies") {
                   r_.list(v, p, [&](const YAML::Node& pv, const std::string& pp) {
                     Policy pol;
                     policy(pv, pp, pol);
                     for (const auto& other : set.policies) {
                       if (other.name == pol.name) {
                         r_.error(pv, pp + ".name", "duplicate policy name '" + pol.name + "'");
                       }
                     }
                     set.policies.push_back(std::move(pol));
                   });
                 }
               });
  }

 private:
  YamlReader& r_;
};

}  // namespace

std::optional<int> parseUtcOffset(std::string_view s) {
  if (s == "UTC" || s == "Z" || s == "Etc/UTC" || s == "GMT") {
    return 0;
  }
  if (s.size() < 2 || (s[0] != '+' && s[0] != '-')) {
    return std::nullopt;
  }
  int sign = s[0] == '-' ? -1 : 1;
  std::string_view rest = s.substr(1);
  int h = 0, m = 0;
  std::string_view hh = rest, mm;
  if (auto c = rest.find(':'); c != std::string_view::npos) {
    hh = rest.substr(0, c);
    mm = rest.substr(c + 1);
  } else if (rest.size() == 4) {
    hh = rest.substr(0, 2);
    mm = rest.substr(2);
  }
  auto num = [](std::string_view t, int& out) {
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    return !t.empty() && t.size() <= 2 && ec == std::errc() && p == t.data() + t.size();
  };
  if (!num(hh, h) || (!mm.empty() && !num(mm, m)) || (mm.empty() && rest.size() > 2) || h > 14 ||
      m > 59) {
    return std::nullopt;
  }
  return sign * (h * 60 + m);
}

LimitsLoadResult readLimitsConfig(const YAML::Node& limits, const YAML::Node& higress,
                                  const config::EnvLookup* env, const std::string& limitsPath,
                                  const std::string& higressPath) {
  LimitsLoadResult res;
  YamlReader r(res.errors, env);
  PolicySet set;
  if (limits && !limits.IsNull()) {
    NativeReader(r).limitsSection(limits, limitsPath, set);
  }
  if (higress && !higress.IsNull()) {
    auto one = [&](const YAML::Node& n, const std::string& p) {
      if (auto pol = readHigressConfig(n, p, res.errors, env)) {
        set.policies.push_back(std::move(*pol));
      }
    };
    if (higress.IsSequence()) {
      r.list(higress, higressPath, one);
    } else {
      one(higress, higressPath);
    }
  }
  if (res.errors.empty()) {
    precomputeKeyPrefixes(set);
    res.policies = std::move(set);
  }
  return res;
}

LimitsLoadResult loadLimitsString(std::string_view yaml, const config::EnvLookup* env) {
  LimitsLoadResult res;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {  // config loading only, never the request path
    res.errors.push_back({"", e.mark.line + 1, std::string("invalid YAML: ") + e.msg});
    return res;
  }
  if (!root || root.IsNull()) {
    res.policies = PolicySet{};
    return res;
  }
  YamlReader r(res.errors, env);
  YAML::Node limits, higress;
  r.forKeys(root, "", {"rate_limits", "higress"},
            [&](const std::string& k, const YAML::Node& v, const std::string&) {
              (k == "rate_limits" ? limits : higress) = v;
            });
  if (!res.errors.empty()) {
    return res;
  }
  return readLimitsConfig(limits, higress, env);
}

}  // namespace tg::limiter
