// The `rate_limits:` structs into a PolicySet (limiter/compile.h). config/read_rate_limits.cc
// has checked the shape (types, ranges, keywords of limits, schedules); this file checks what
// the values mean and applies the limiter's defaults.
#include "limiter/compile.h"

#include <charconv>

#include "core/strings.h"
#include "limiter/higress.h"
#include "limiter/rules.h"
#include "limiter/timezone.h"

namespace tg::limiter {
namespace {

using config::ConfigError;
using config::Mark;
using Tiers = std::vector<std::pair<std::string, std::vector<Limit>>>;

struct QuantityName {
  const char* name;
  Quantity q;
};
constexpr QuantityName kQuantities[] = {
    {"total_tokens", Quantity::TotalTokens},   {"input_tokens", Quantity::InputTokens},
    {"output_tokens", Quantity::OutputTokens}, {"weighted_tokens", Quantity::WeightedTokens},
    {"requests", Quantity::Requests},          {"concurrent", Quantity::Concurrent},
};

class Compiler {
 public:
  explicit Compiler(std::vector<ConfigError>& errors) : errors_(errors) {}

  void error(const Mark& m, const std::string& msg) { errors_.push_back(config::errorAt(m, msg)); }
  // An error about `suffix` (".name") of the value at `m`, on its line.
  void error(const Mark& m, const std::string& suffix, const std::string& msg) {
    errors_.push_back({m.path + suffix, m.line, msg});
  }
  size_t errorCount() const { return errors_.size(); }

  static std::vector<Limit> limits(const std::vector<config::LimitConfig>& in) {
    std::vector<Limit> out;
    for (const auto& l : in) {
      Limit limit;
      for (const auto& q : kQuantities) {
        if (l.quantity == q.name) {
          limit.quantity = q.q;
        }
      }
      limit.limit = l.amount;
      if (limit.quantity != Quantity::Concurrent) {
        limit.window = l.per;
      }
      out.push_back(limit);
    }
    return out;
  }

  static Tiers tiers(const config::LimitTiers& in) {
    Tiers out;
    for (const auto& [name, ls] : in) {
      out.emplace_back(name, limits(ls));
    }
    return out;
  }

  void keyEntry(const config::KeyEntryConfig& in, const Rule& rule, KeyEntry& e) {
    const std::string& key = in.key.value;
    e.limits = limits(in.limits);
    e.pattern.text = key;
    std::string err;
    if (wildcardPattern(key, e.pattern, err)) {
      if (!err.empty()) {
        error(in.key.mark, "invalid RE2 regular expression: " + err);
      }
    } else if (rule.selector == SelectorKind::ClientIp) {
      auto p = parseIpPrefix(key);
      if (!p) {
        error(in.key.mark, "must be an IP address or CIDR (10.0.0.0/8), got '" + key + "'");
        return;
      }
      e.pattern.kind = KeyPattern::Kind::Cidr;
      e.pattern.prefix = *p;
    } else {
      e.pattern.kind = KeyPattern::Kind::Exact;
    }
  }

  void rule(const config::RuleConfig& in, Rule& rule) {
    const Mark& at = in.mark;
    const std::string& by = in.by.value;
    rule.name = in.name;
    rule.limits = limits(in.limits);
    rule.tiers = tiers(in.tiers);
    for (const auto& s : in.schedules) {
      Schedule sch;
      sch.weekdays = s.weekdays;
      sch.startMinute = s.startMinute;
      sch.endMinute = s.endMinute;
      sch.limits = limits(s.limits);
      sch.tiers = tiers(s.tiers);
      rule.schedules.push_back(std::move(sch));
    }
    rule.fallback = limits(in.fallback);
    rule.maxKeys = in.maxKeys;
    rule.penalty = in.penalty;
    rule.shadow = in.shadow;
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
      error(in.by.mark,
            "must be one of global, consumer, per_consumer, api_key, per_api_key, header, "
            "per_header, param, per_param, cookie, per_cookie, ip, per_ip, model, per_model; "
            "got '" +
                by + "'");
      return;
    }
    auto needName = [&](SelectorKind k, const char* key, const std::string& value) {
      if (rule.selector == k) {
        if (value.empty()) {
          error(at, std::string(".") + key,
                std::string("by: ") + by + " needs " + key + ": <name>");
        }
        rule.selectorName = value;
      } else if (!value.empty()) {
        error(at, std::string(".") + key, std::string(key) + " is only for by: [per_]" + key);
      }
    };
    needName(SelectorKind::Header, "header", in.header);
    needName(SelectorKind::Param, "param", in.param);
    needName(SelectorKind::Cookie, "cookie", in.cookie);
    if (rule.name.empty()) {
      rule.name = by + (rule.selectorName.empty() ? "" : ":" + rule.selectorName);
    }
    for (const auto& k : in.keys) {
      KeyEntry e;
      keyEntry(k, rule, e);
      rule.keys.push_back(std::move(e));
    }
    if (rule.selector == SelectorKind::Global &&
        (!rule.keys.empty() || !rule.fallback.empty() || rule.maxKeys != 0)) {
      error(at, "a global rule takes no keys, fallback or max_keys");
    }
    if (!rule.perValue && rule.selector != SelectorKind::Global && rule.keys.empty()) {
      error(at, ".keys",
            "by: " + by + " counts only listed values: add keys (or use by: per_" + by +
                " for one counter per value)");
    }
    if (!rule.perValue && rule.maxKeys != 0) {
      error(at, ".max_keys", "max_keys is only for per_ rules");
    }
    bool anyLimits = !rule.limits.empty() || !rule.tiers.empty() || !rule.schedules.empty();
    for (const auto& e : rule.keys) {
      anyLimits = anyLimits || !e.limits.empty();
      if (e.limits.empty() && rule.limits.empty() && rule.tiers.empty()) {
        error(at, ".limits",
              "key '" + e.pattern.text + "' has no limits and the rule has none to inherit");
        break;
      }
    }
    if (!anyLimits) {
      error(at, ".limits", "a rule needs limits");
    }
  }

  // A keyword of `in` (nullopt = not written) as one of `names`; reports "must be a, b or c".
  template <typename E, size_t N>
  void keyword(const std::optional<config::MarkedString>& in,
               const std::pair<const char*, E> (&names)[N], E& out) {
    if (!in) {
      return;
    }
    std::string list;
    for (size_t i = 0; i < N; ++i) {
      if (in->value == names[i].first) {
        out = names[i].second;
        return;
      }
      list += i == 0 ? "" : (i + 1 == N ? " or " : ", ");
      list += names[i].first;
    }
    error(in->mark, "must be " + list + ", got '" + in->value + "'");
  }

  void policy(const config::PolicyConfig& in, Policy& p) {
    static const std::pair<const char*, store::Algorithm> kAlgorithms[] = {
        {"fixed_window", store::Algorithm::FixedWindow},
        {"sliding_window", store::Algorithm::SlidingWindow},
        {"token_bucket", store::Algorithm::TokenBucket}};
    static const std::pair<const char*, PolicyMode> kModes[] = {
        {"strict", PolicyMode::Strict}, {"higress_compatible", PolicyMode::HigressCompatible}};
    static const std::pair<const char*, ReservationMode> kReservations[] = {
        {"none", ReservationMode::None},
        {"prompt", ReservationMode::PromptOnly},
        {"prompt_plus_max", ReservationMode::PromptPlusMax}};
    static const std::pair<const char*, StoreFailureMode> kStoreFailures[] = {
        {"open", StoreFailureMode::Open},
        {"closed", StoreFailureMode::Closed},
        {"local", StoreFailureMode::Local}};
    p.name = in.name;
    p.routes = in.routes;
    keyword(in.algorithm, kAlgorithms, p.algorithm);
    keyword(in.mode, kModes, p.mode);
    keyword(in.reservation, kReservations, p.reservation);
    p.defaultMaxTokens = in.defaultMaxTokens.value_or(p.defaultMaxTokens);
    p.weights.input = in.weights.input.value_or(p.weights.input);
    p.weights.cachedInput = in.weights.cachedInput.value_or(p.weights.cachedInput);
    p.weights.output = in.weights.output.value_or(p.weights.output);
    if (in.timeZone) {
      // A fixed offset first ("+08:00", "UTC"), else an IANA name read from the tz database
      // ($TZDIR or /usr/share/zoneinfo) now, at load time.
      const std::string& s = in.timeZone->value;
      if (auto off = parseUtcOffset(s)) {
        p.timeZone = TimeZone::fixed(*off * 60, s);
      } else if (auto tz = loadTimeZone(s)) {
        p.timeZone = std::move(*tz);
      } else {
        error(in.timeZone->mark,
              "must be an IANA time zone such as Europe/Berlin or a fixed UTC offset such as "
              "+08:00, -05:30 or UTC: " +
                  tz.error());
      }
    }
    p.tierLabel = in.tierLabel.value_or(p.tierLabel);
    p.penalty = in.penalty.value_or(p.penalty);
    p.shadow = in.shadow.value_or(p.shadow);
    p.concurrencyLease = in.concurrencyLease.value_or(p.concurrencyLease);
    p.rejectedCode = in.rejectedCode.value_or(p.rejectedCode);
    p.rejectedMsg = in.rejectedMsg.value_or(p.rejectedMsg);
    keyword(in.storeFailure, kStoreFailures, p.storeFailure);
    static const std::pair<const char*, bool> kLeases[] = {{"leased", false}, {"exact", true}};
    keyword(in.lease, kLeases, p.exactLease);
    static const std::pair<const char*, bool> kEnforce[] = {{"admission", false}, {"stream", true}};
    keyword(in.enforce, kEnforce, p.enforceStream);
    if (p.enforceStream && p.mode != PolicyMode::Strict) {
      error(in.enforce->mark,
            "enforce: stream needs mode: strict (a higress_compatible policy reserves nothing "
            "to follow the stream with)");
    }
    p.clampMaxTokens = in.clampMaxTokens.value_or(false);
    if (p.clampMaxTokens && p.mode != PolicyMode::Strict) {
      error(in.mark, ".clamp_max_tokens",
            "clamp_max_tokens needs mode: strict (a higress_compatible policy reserves nothing, "
            "so it knows no budget to clamp to)");
    }
    static const std::pair<const char*, bool> kOnLimit[] = {{"reject", false}, {"queue", true}};
    keyword(in.onLimit, kOnLimit, p.queue);
    p.maxWait = in.maxWait.value_or(p.maxWait);
    p.maxQueued = in.maxQueued.value_or(p.maxQueued);
    p.priorities = in.priority;
    if (p.queue && p.mode != PolicyMode::Strict) {
      error(in.onLimit->mark,
            "on_limit: queue needs mode: strict (a higress_compatible policy admits while a "
            "bucket is under its limit, so a queued request would have nothing to wait for)");
    }
    if (p.queue && p.penalty.count() > 0) {
      error(in.onLimit->mark,
            "on_limit: queue and penalty exclude each other: a queued request would be "
            "punished for waiting its turn");
    }
    if (!p.queue && (in.maxWait || in.maxQueued || !in.priority.empty())) {
      error(in.mark, in.maxWait ? ".max_wait" : in.maxQueued ? ".max_queued" : ".priority",
            "max_wait, max_queued and priority need on_limit: queue");
    }
    p.localShare = in.localShare.value_or(p.localShare);
    for (const auto& rc : in.rules) {
      Rule r;
      size_t before = errorCount();
      rule(rc, r);
      if (errorCount() == before) {
        for (const auto& other : p.rules) {
          if (other.name == r.name) {
            error(rc.mark, ".name", "duplicate rule name '" + r.name + "' (name the rules)");
          }
        }
      }
      if (p.queue && r.penalty && r.penalty->count() > 0) {
        error(rc.mark, ".penalty",
              "on_limit: queue and penalty exclude each other: a queued request would be "
              "punished for waiting its turn");
      }
      p.rules.push_back(std::move(r));
    }
    if (p.name.empty()) {
      error(in.mark, ".name", "a policy needs a name (it is part of every bucket key)");
    }
    if (p.rules.empty()) {
      error(in.mark, ".rules", "a policy needs at least one rule");
    }
    if (p.mode == PolicyMode::HigressCompatible) {
      if (in.reservation && p.reservation != ReservationMode::None) {
        error(in.mark, ".reservation",
              "mode higress_compatible charges after the response: reservation must be none");
      }
      p.reservation = ReservationMode::None;
    }
  }

  void consumer(const config::ConsumerConfig& in, Consumer& c) {
    c.name = in.name;
    c.labels = in.labels;
    for (const auto& k : in.keys) {
      const std::string& key = k.value;
      ApiKey a;
      if (key.rfind("sha256:", 0) == 0) {
        std::string hex = key.substr(7);
        bool ok = hex.size() == 64;
        for (size_t i = 0; ok && i < 32; ++i) {
          auto [ptr, ec] =
              std::from_chars(hex.data() + 2 * i, hex.data() + 2 * i + 2, a.sha256[i], 16);
          ok = ec == std::errc() && ptr == hex.data() + 2 * i + 2;
        }
        if (!ok) {
          error(k.mark, "sha256: must be followed by 64 hex digits");
          continue;
        }
        a.hashed = true;
      } else {
        a.sha256 = sha256Of(key);
      }
      c.keys.push_back(a);
    }
    if (c.name.empty()) {
      error(in.mark, ".name", "a consumer needs a name");
    }
    for (size_t i = 0; i < c.keys.size(); ++i) {
      c.keys[i].id = c.name + "#" + std::to_string(i);
    }
  }

  void section(const config::RateLimitsConfig& in, PolicySet& set) {
    for (const auto& ks : in.keySources) {
      using Kind = config::KeySourceConfig::Kind;
      switch (ks.kind) {
        case Kind::AuthorizationBearer:
          set.keySources.push_back({KeySource::Kind::AuthorizationBearer, ""});
          break;
        case Kind::XApiKey:
          set.keySources.push_back({KeySource::Kind::XApiKey, ""});
          break;
        case Kind::Header:
          set.keySources.push_back({KeySource::Kind::Header, core::toLower(ks.name)});
          break;
        case Kind::QueryParam:
          set.keySources.push_back({KeySource::Kind::QueryParam, ks.name});
          break;
      }
    }
    for (const auto& cc : in.consumers) {
      Consumer c;
      consumer(cc, c);
      for (const auto& other : set.consumers) {
        if (other.name == c.name) {
          error(cc.mark, ".name", "duplicate consumer '" + c.name + "'");
        }
        for (const auto& a : other.keys) {
          for (const auto& b : c.keys) {
            if (a.sha256 == b.sha256) {
              error(cc.mark, ".keys",
                    "a key of '" + c.name + "' is also a key of '" + other.name + "'");
            }
          }
        }
      }
      set.consumers.push_back(std::move(c));
    }
    for (const auto& pc : in.policies) {
      Policy pol;
      policy(pc, pol);
      for (const auto& other : set.policies) {
        if (other.name == pol.name) {
          error(pc.mark, ".name", "duplicate policy name '" + pol.name + "'");
        }
      }
      set.policies.push_back(std::move(pol));
    }
  }

 private:
  std::vector<ConfigError>& errors_;
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

LimitsLoadResult compile(const config::RateLimitsConfig& limits) { return compile(limits, {}); }

LimitsLoadResult compile(const config::RateLimitsConfig& limits,
                         const std::vector<config::HigressConfig>& higress) {
  LimitsLoadResult res;
  PolicySet set;
  Compiler(res.errors).section(limits, set);
  for (const auto& h : higress) {
    if (auto pol = compileHigress(h, res.errors)) {
      set.policies.push_back(std::move(*pol));
    }
  }
  if (res.errors.empty()) {
    precomputeKeyPrefixes(set);
    for (const Policy& p : set.policies) {
      set.queueing = set.queueing || p.queue;
    }
    res.policies = std::move(set);
  }
  return res;
}

}  // namespace tg::limiter
