// `rate_limits:` into config::RateLimitsConfig (config/rate_limits.h). Only the shape is
// checked here; limiter::compile checks what the values mean.
#include <charconv>
#include <set>

#include "config/sections.h"
#include "core/strings.h"

namespace tg::config {
namespace {

using Millis = std::chrono::milliseconds;

std::optional<Millis> windowNamed(const std::string& s) {
  if (s == "second") return Millis(1'000);
  if (s == "minute") return Millis(60'000);
  if (s == "hour") return Millis(3'600'000);
  if (s == "day") return Millis(86'400'000);
  return std::nullopt;
}

constexpr const char* kDurations = "500ms, 10s, 5m, 1h, 1d";

class RateLimitsReader {
 public:
  explicit RateLimitsReader(Reader& r) : r_(r) {}

  void limit(const YAML::Node& n, const std::string& path, std::vector<LimitConfig>& out) {
    if (!n.IsMap()) {
      r_.error(n, path, "a limit must be a mapping such as {tokens: 100000, per: minute}");
      return;
    }
    LimitConfig l;
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
                   } else if (auto w = windowNamed(s)) {
                     l.per = *w;
                   } else if (!r_.duration(v, p, false, l.per, kDurations)) {
                     ok = false;
                   }
                   return;
                 }
                 ++quantities;
                 l.quantity = k == "tokens" ? "total_tokens" : k;
                 int64_t v64 = 0;
                 if (r_.integer(v, p, 1, INT64_MAX, v64)) {
                   l.amount = static_cast<uint64_t>(v64);
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
    if (l.quantity == "concurrent") {
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

  void limits(const YAML::Node& n, const std::string& path, std::vector<LimitConfig>& out) {
    r_.list(n, path, [&](const YAML::Node& v, const std::string& p) { limit(v, p, out); });
    std::set<std::pair<std::string, int64_t>> seen;
    for (const auto& l : out) {
      if (!seen.insert({l.quantity, l.per.count()}).second) {
        r_.error(n, path, "two limits count " + l.quantity + " over the same window");
        return;
      }
    }
  }

  void tiersMap(const YAML::Node& n, const std::string& path, LimitTiers& out) {
    if (!n || n.IsNull()) {
      return;
    }
    if (!n.IsMap()) {
      r_.error(n, path, "must be a mapping of label value to a list of limits");
      return;
    }
    for (const auto& kv : n) {
      std::string name = kv.first.Scalar();
      std::vector<LimitConfig> ls;
      limits(kv.second, path + "." + name, ls);
      if (ls.empty()) {
        r_.error(kv.second, path + "." + name, "a tier needs at least one limit");
      }
      out.emplace_back(name, std::move(ls));
    }
  }

  // `priority: {gold: 4, free: 1}`: queue weights by the consumer's tier label value.
  void priorityMap(const YAML::Node& n, const std::string& path, PolicyConfig& p) {
    p.priorityMark = Reader::markOf(n, path);
    if (!n.IsMap()) {
      r_.error(n, path, "must be a mapping of tier (label value) to a weight, e.g. {gold: 4}");
      return;
    }
    for (const auto& kv : n) {
      const std::string name = kv.first.Scalar();
      double w = 0;
      if (r_.number(kv.second, path + "." + name, w)) {
        if (!(w >= 0.001 && w <= 1000)) {
          r_.error(kv.second, path + "." + name, "a priority must be in [0.001, 1000]");
        } else {
          p.priority.emplace_back(name, w);
        }
      }
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

  void schedule(const YAML::Node& n, const std::string& path, ScheduleConfig& s) {
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

  // false when the entry has no usable key (reported).
  bool keyEntry(const YAML::Node& n, const std::string& path, KeyEntryConfig& e) {
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
    if (!keyNode || !r_.str(keyNode, keyPath, e.key.value) || e.key.value.empty()) {
      r_.error(n, keyPath, "a key entry needs a non-empty key");
      return false;
    }
    e.key.mark = Reader::markOf(keyNode, keyPath);
    return true;
  }

  void rule(const YAML::Node& n, const std::string& path, RuleConfig& rule) {
    rule.mark = Reader::markOf(n, path);
    rule.by.mark = rule.mark;
    rule.by.mark.path = path + ".by";
    r_.forKeys(n, path,
               {"name", "by", "header", "param", "cookie", "keys", "limits", "tiers", "schedules",
                "fallback", "max_keys", "penalty", "shadow"},
               [&](const std::string& k, const YAML::Node& v, const std::string& p) {
                 int64_t i = 0;
                 if (k == "name") {
                   r_.str(v, p, rule.name);
                 } else if (k == "by") {
                   rule.by.mark = Reader::markOf(v, p);
                   r_.str(v, p, rule.by.value);
                 } else if (k == "header") {
                   r_.str(v, p, rule.header);
                 } else if (k == "param") {
                   r_.str(v, p, rule.param);
                 } else if (k == "cookie") {
                   r_.str(v, p, rule.cookie);
                 } else if (k == "keys") {
                   r_.list(v, p, [&](const YAML::Node& kv, const std::string& kp) {
                     KeyEntryConfig e;
                     if (keyEntry(kv, kp, e)) {
                       rule.keys.push_back(std::move(e));
                     }
                   });
                 } else if (k == "limits") {
                   limits(v, p, rule.limits);
                 } else if (k == "tiers") {
                   tiersMap(v, p, rule.tiers);
                 } else if (k == "schedules") {
                   r_.listInto<ScheduleConfig>(
                       v, p,
                       [&](const YAML::Node& s, const std::string& sp, ScheduleConfig& sch) {
                         schedule(s, sp, sch);
                       },
                       rule.schedules);
                 } else if (k == "fallback") {
                   limits(v, p, rule.fallback);
                 } else if (k == "max_keys") {
                   if (r_.integer(v, p, 1, INT64_MAX, i)) {
                     rule.maxKeys = static_cast<uint64_t>(i);
                   }
                 } else if (k == "penalty") {
                   Millis d{0};
                   if (r_.duration(v, p, true, d, kDurations)) {
                     rule.penalty = d;
                   }
                 } else if (k == "shadow") {
                   bool b = false;
                   if (r_.boolean(v, p, b)) {
                     rule.shadow = b;
                   }
                 }
               });
  }

  void weights(const YAML::Node& n, const std::string& path, WeightsConfig& w) {
    r_.forKeys(n, path, {"input", "cached_input", "output"},
               [&](const std::string& k, const YAML::Node& v, const std::string& p) {
                 double d = 0;
                 if (r_.number(v, p, d)) {
                   (k == "input" ? w.input : k == "output" ? w.output : w.cachedInput) = d;
                 }
               });
  }

  // A keyword to check later: kept even when empty or not a scalar, so the limiter can name
  // what it expects.
  std::optional<MarkedString> word(const YAML::Node& v, const std::string& p) {
    MarkedString s{"", Reader::markOf(v, p)};
    r_.str(v, p, s.value);
    return s;
  }

  void policy(const YAML::Node& n, const std::string& path, PolicyConfig& p) {
    p.mark = Reader::markOf(n, path);
    r_.forKeys(n, path,
               {"name", "routes", "algorithm", "mode", "reservation", "default_max_tokens",
                "weights", "time_zone", "tier_label", "penalty", "shadow", "concurrency_lease",
                "rejected_code", "rejected_msg", "store_failure", "local_share", "lease", "enforce",
                "clamp_max_tokens", "on_limit", "max_wait", "max_queued", "priority", "rules"},
               [&](const std::string& k, const YAML::Node& v, const std::string& kp) {
                 std::string s;
                 int64_t i = 0;
                 Millis d{0};
                 bool b = false;
                 if (k == "name") {
                   r_.str(v, kp, p.name);
                 } else if (k == "routes") {
                   p.routesMark = Reader::markOf(v, kp);
                   r_.list(v, kp, [&](const YAML::Node& rv, const std::string& rp) {
                     std::string route;
                     if (r_.str(rv, rp, route)) {
                       p.routes.push_back(route);
                     }
                   });
                 } else if (k == "algorithm") {
                   p.algorithm = word(v, kp);
                 } else if (k == "mode") {
                   p.mode = word(v, kp);
                 } else if (k == "reservation") {
                   p.reservation = word(v, kp);
                 } else if (k == "store_failure") {
                   p.storeFailure = word(v, kp);
                 } else if (k == "lease") {
                   p.lease = word(v, kp);
                 } else if (k == "enforce") {
                   p.enforce = word(v, kp);
                 } else if (k == "clamp_max_tokens") {
                   if (r_.boolean(v, kp, b)) {
                     p.clampMaxTokens = b;
                   }
                 } else if (k == "on_limit") {
                   p.onLimit = word(v, kp);
                 } else if (k == "max_wait") {
                   if (r_.duration(v, kp, false, d, kDurations)) {
                     p.maxWait = d;
                   }
                 } else if (k == "max_queued") {
                   if (r_.integer(v, kp, 1, 1'000'000, i)) {
                     p.maxQueued = static_cast<uint64_t>(i);
                   }
                 } else if (k == "priority") {
                   priorityMap(v, kp, p);
                 } else if (k == "default_max_tokens") {
                   if (r_.integer(v, kp, 1, INT64_MAX, i)) {
                     p.defaultMaxTokens = static_cast<uint64_t>(i);
                   }
                 } else if (k == "weights") {
                   weights(v, kp, p.weights);
                 } else if (k == "time_zone") {
                   MarkedString tz{"", Reader::markOf(v, kp)};
                   if (r_.str(v, kp, tz.value)) {
                     p.timeZone = std::move(tz);
                   }
                 } else if (k == "tier_label") {
                   if (r_.str(v, kp, s)) {
                     p.tierLabel = s;
                   }
                 } else if (k == "penalty") {
                   if (r_.duration(v, kp, true, d, kDurations)) {
                     p.penalty = d;
                   }
                 } else if (k == "shadow") {
                   if (r_.boolean(v, kp, b)) {
                     p.shadow = b;
                   }
                 } else if (k == "concurrency_lease") {
                   if (r_.duration(v, kp, true, d, kDurations)) {
                     p.concurrencyLease = d;
                   }
                 } else if (k == "rejected_code") {
                   if (r_.integer(v, kp, 200, 599, i)) {
                     p.rejectedCode = static_cast<uint32_t>(i);
                   }
                 } else if (k == "rejected_msg") {
                   if (r_.str(v, kp, s)) {
                     p.rejectedMsg = s;
                   }
                 } else if (k == "local_share") {
                   double x = 0;
                   if (r_.number(v, kp, x)) {
                     if (!(x > 0 && x <= 1)) {
                       r_.error(v, kp, "must be in (0, 1]");
                     } else {
                       p.localShare = x;
                     }
                   }
                 } else if (k == "rules") {
                   r_.listInto<RuleConfig>(
                       v, kp,
                       [&](const YAML::Node& rv, const std::string& rp, RuleConfig& rule) {
                         this->rule(rv, rp, rule);
                       },
                       p.rules);
                 }
               });
  }

  void consumer(const YAML::Node& n, const std::string& path, ConsumerConfig& c) {
    c.mark = Reader::markOf(n, path);
    r_.forKeys(n, path, {"name", "keys", "labels"},
               [&](const std::string& k, const YAML::Node& v, const std::string& p) {
                 if (k == "name") {
                   r_.str(v, p, c.name);
                 } else if (k == "keys") {
                   r_.list(v, p, [&](const YAML::Node& kv, const std::string& kp) {
                     MarkedString key{"", Reader::markOf(kv, kp)};
                     if (!r_.str(kv, kp, key.value) || key.value.empty()) {
                       r_.error(kv, kp, "a key must be a non-empty string");
                       return;
                     }
                     c.keys.push_back(std::move(key));
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
  }

  void keySource(const YAML::Node& n, const std::string& path, std::vector<KeySourceConfig>& out) {
    using Kind = KeySourceConfig::Kind;
    if (n.IsScalar()) {
      std::string s = n.Scalar();
      if (s == "bearer" || s == "authorization") {
        out.push_back({Kind::AuthorizationBearer, ""});
      } else if (s == "x-api-key") {
        out.push_back({Kind::XApiKey, ""});
      } else {
        r_.error(n, path, "must be bearer, x-api-key, {header: NAME} or {query: NAME}");
      }
      return;
    }
    r_.forKeys(n, path, {"header", "query"},
               [&](const std::string& k, const YAML::Node& v, const std::string& p) {
                 std::string name;
                 if (r_.str(v, p, name) && !name.empty()) {
                   out.push_back({k == "header" ? Kind::Header : Kind::QueryParam, name});
                 } else {
                   r_.error(v, p, "must name a header or query parameter");
                 }
               });
  }

  void section(const YAML::Node& n, const std::string& path, RateLimitsConfig& out) {
    r_.forKeys(n, path, {"key_sources", "consumers", "policies"},
               [&](const std::string& k, const YAML::Node& v, const std::string& p) {
                 if (k == "key_sources") {
                   r_.list(v, p, [&](const YAML::Node& sv, const std::string& sp) {
                     keySource(sv, sp, out.keySources);
                   });
                 } else if (k == "consumers") {
                   r_.listInto<ConsumerConfig>(
                       v, p,
                       [&](const YAML::Node& cv, const std::string& cp, ConsumerConfig& c) {
                         consumer(cv, cp, c);
                       },
                       out.consumers);
                 } else if (k == "policies") {
                   r_.listInto<PolicyConfig>(
                       v, p,
                       [&](const YAML::Node& pv, const std::string& pp, PolicyConfig& pol) {
                         policy(pv, pp, pol);
                       },
                       out.policies);
                 }
               });
  }

 private:
  Reader& r_;
};

}  // namespace

void readRateLimits(Reader& r, const YAML::Node& n, const std::string& path,
                    RateLimitsConfig& out) {
  RateLimitsReader(r).section(n, path, out);
}

}  // namespace tg::config
