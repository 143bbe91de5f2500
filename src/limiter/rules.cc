#include "limiter/rules.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>

#include "core/strings.h"
#include "limiter/timezone.h"

namespace tg::limiter {
namespace {

constexpr size_t kMaxRawValue = 64;

bool plainKeyByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("._~@/+=*-").find(static_cast<char>(c)) != std::string_view::npos;
}

void appendEscaped(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (plainKeyByte(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
}

std::string hexOf(const uint8_t* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    s.push_back(kHex[p[i] >> 4]);
    s.push_back(kHex[p[i] & 15]);
  }
  return s;
}

// "#<hex>" for long values, else the escaped value: the display/log form.
std::string displayValue(std::string_view raw) {
  if (raw.size() > kMaxRawValue) {
    auto d = sha256Of(raw);
    return "#" + hexOf(d.data(), 16);
  }
  std::string s;
  appendEscaped(raw, s);
  return s;
}

const std::vector<Limit>* findTier(const std::vector<std::pair<std::string, std::vector<Limit>>>& t,
                                   std::optional<std::string_view> tier) {
  if (!tier) {
    return nullptr;
  }
  for (const auto& [name, limits] : t) {
    if (name == *tier && !limits.empty()) {
      return &limits;
    }
  }
  return nullptr;
}

// Go's url.QueryUnescape.
std::optional<std::string> unescapeQuery(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) {
        return std::nullopt;
      }
      int h = core::hexDigitValue(s[i + 1]);
      int l = core::hexDigitValue(s[i + 2]);
      if (h < 0 || l < 0) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(h * 16 + l));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The selector's runtime value; nullopt = missing.
std::optional<std::string> selectorValue(const Policy& policy, const Rule& rule,
                                         const RequestFacts& f) {
  auto header = [&](std::string_view name) -> std::optional<std::string_view> {
    if (!f.header) {
      return std::nullopt;
    }
    return f.header(core::toLower(name));
  };
  switch (rule.selector) {
    case SelectorKind::Global:
      return std::string();
    case SelectorKind::Consumer:
      if (!f.consumer) {
        return std::nullopt;
      }
      return f.consumer->name;
    case SelectorKind::ApiKey:
      if (f.apiKeyId.empty()) {
        return std::nullopt;
      }
      return std::string(f.apiKeyId);
    case SelectorKind::Header: {
      auto v = header(rule.selectorName);
      return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
    }
    case SelectorKind::Param:
      return queryParam(f.query, rule.selectorName, policy.higress);
    case SelectorKind::Cookie: {
      auto v = cookieValue(f.cookies, rule.selectorName);
      return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
    }
    case SelectorKind::ClientIp: {
      std::string_view text = f.clientIp;
      if (!rule.ipHeader.empty()) {
        auto v = header(rule.ipHeader);
        if (!v) {
          return std::nullopt;
        }
        text = core::trimOws(v->substr(0, std::min(v->find(','), v->size())));
      }
      auto ip = parseIp(core::trimOws(text));
      return ip ? std::optional<std::string>(formatIp(*ip)) : std::nullopt;
    }
    case SelectorKind::Model:
      if (f.model.empty()) {
        return std::nullopt;
      }
      return std::string(f.model);
  }
  return std::nullopt;
}

const KeyEntry* findEntry(const Rule& rule, std::string_view value) {
  if (rule.selector == SelectorKind::ClientIp) {
    auto ip = parseIp(value);
    if (!ip) {
      return nullptr;
    }
    const KeyEntry* best = nullptr;
    int bestRank = -2;
    for (const auto& e : rule.keys) {
      if (!e.pattern.matchesIp(*ip)) {
        continue;
      }
      if (!rule.longestPrefix) {
        return &e;
      }
      int rank = -1;
      if (e.pattern.kind == KeyPattern::Kind::Cidr) {
        rank = e.pattern.prefix.bits;
      } else if (e.pattern.kind == KeyPattern::Kind::Exact) {
        rank = 128;
      }
      if (rank > bestRank) {
        best = &e;
        bestRank = rank;
      }
    }
    return best;
  }
  for (const auto& e : rule.keys) {
    if (e.pattern.matches(value)) {
      return &e;
    }
  }
  return nullptr;
}

Millis longestWindow(const std::vector<Limit>& limits) {
  Millis w{1000};
  for (const auto& l : limits) {
    if (l.quantity != Quantity::Concurrent) {
      w = std::max(w, l.window);
    }
  }
  return w;
}

// "tg1:<policy>:<rule>:<quantity>:<window ms>:" for limit `l` of rule `r` in policy `p`.
void appendKeyPrefix(const Policy& p, const Rule& r, const Limit& l, std::string& k) {
  const Millis window = l.quantity == Quantity::Concurrent ? p.concurrencyLease : l.window;
  k.append(p.higress ? "tg1h:" : "tg1:");
  appendEscaped(p.name, k);
  k.push_back(':');
  appendEscaped(r.name, k);
  k.push_back(':');
  k.append(quantityName(l.quantity));
  k.push_back(':');
  k.append(std::to_string(window.count()));
  k.push_back(':');
}

// Writes the buckets of `limits` into out[n...], reusing the elements (and their strings'
// capacity) left from an earlier request.
void appendBuckets(const PolicySet& set, uint32_t pi, uint32_t ri, const std::vector<Limit>& limits,
                   const std::string& valuePart, std::string_view display, bool fallback,
                   bool overflow, std::vector<MatchedBucket>& out, size_t& n) {
  const Policy& p = set.policies[pi];
  const Rule& r = p.rules[ri];
  for (const auto& l : limits) {
    if (n == out.size()) {
      out.emplace_back();
    }
    MatchedBucket& b = out[n++];
    b.quantity = l.quantity;
    b.kind = amountKindOf(l.quantity);
    b.policyIndex = pi;
    b.ruleIndex = ri;
    b.value.assign(display);
    b.fallback = fallback;
    b.overflow = overflow;
    b.shadow = r.shadow.value_or(p.shadow);
    b.reserveMode = p.mode == PolicyMode::HigressCompatible ? store::ReserveMode::CheckOnly
                                                            : store::ReserveMode::Reserve;
    b.spec.limit = l.limit;
    b.spec.penalty = r.penalty.value_or(p.penalty);
    b.spec.exact = p.exactLease;
    if (l.quantity == Quantity::Concurrent) {
      b.spec.algorithm = store::Algorithm::Concurrency;
      b.spec.window = p.concurrencyLease;
    } else {
      b.spec.algorithm = p.algorithm;
      b.spec.window = l.window;
    }
    std::string& k = b.spec.key;
    k.clear();
    if (l.keyPrefix.empty()) {
      appendKeyPrefix(p, r, l, k);
    } else {
      k.append(l.keyPrefix);
    }
    k.append(valuePart);
  }
}

}  // namespace

std::string encodeKeyPart(std::string_view raw) {
  if (raw.size() > kMaxRawValue) {
    auto d = sha256Of(raw);
    return "v#" + hexOf(d.data(), 16);
  }
  std::string s = "v";
  appendEscaped(raw, s);
  return s;
}

const std::vector<Limit>& resolveLimits(const Policy& policy, const Rule& rule,
                                        const KeyEntry* entry, const Consumer* consumer,
                                        store::TimePoint now) {
  std::optional<std::string_view> tier;
  if (consumer) {
    tier = consumer->label(policy.tierLabel);
  }
  if (!rule.schedules.empty()) {
    using namespace std::chrono;
    // The zone's offset at this instant (daylight saving included), then the local wall time.
    auto utc = floor<seconds>(now);
    int offset = policy.timeZone ? policy.timeZone->offsetSecondsAt(now) : 0;
    auto local = floor<minutes>(utc + seconds(offset));
    auto day = floor<days>(local);
    int weekday =
        static_cast<int>(((day.time_since_epoch().count() % 7) + 11) % 7);  // 1970-01-01: Thu
    int minuteOfDay = static_cast<int>((local - day).count());
    for (const auto& s : rule.schedules) {
      if (s.activeAt(weekday, minuteOfDay)) {
        if (const auto* t = findTier(s.tiers, tier)) {
          return *t;
        }
        if (!s.limits.empty()) {
          return s.limits;
        }
        break;
      }
    }
  }
  if (const auto* t = findTier(rule.tiers, tier)) {
    return *t;
  }
  if (entry && !entry->limits.empty()) {
    return entry->limits;
  }
  return rule.limits;
}

bool DistinctKeyCap::admit(std::string_view scope, std::string_view value, uint64_t cap,
                           Millis period, store::TimePoint now) {
  if (cap == 0) {
    return true;
  }
  int64_t gen = std::chrono::duration_cast<Millis>(now.time_since_epoch()).count() /
                std::max<int64_t>(1, period.count());
  uint64_t h = std::hash<std::string_view>{}(value);
  core::MutexLock lock(mu_);
  auto it = scopes_.find(std::string(scope));
  if (it == scopes_.end()) {
    it = scopes_.emplace(std::string(scope), Scope{}).first;
  }
  Scope& s = it->second;
  if (s.generation != gen) {
    s.generation = gen;
    s.seen.clear();
  }
  if (s.seen.count(h) != 0) {
    return true;
  }
  if (s.seen.size() >= cap) {
    return false;
  }
  s.seen.insert(h);
  return true;
}

void precomputeKeyPrefixes(PolicySet& set) {
  for (Policy& p : set.policies) {
    for (Rule& r : p.rules) {
      auto fill = [&](std::vector<Limit>& limits) {
        for (Limit& l : limits) {
          l.keyPrefix.clear();
          appendKeyPrefix(p, r, l, l.keyPrefix);
        }
      };
      fill(r.limits);
      fill(r.fallback);
      for (auto& e : r.keys) {
        fill(e.limits);
      }
      for (auto& t : r.tiers) {
        fill(t.second);
      }
      for (auto& sch : r.schedules) {
        fill(sch.limits);
        for (auto& t : sch.tiers) {
          fill(t.second);
        }
      }
    }
  }
}

void matchInto(const PolicySet& set, const RequestFacts& facts, store::TimePoint now,
               std::vector<MatchedBucket>& out, DistinctKeyCap* cap) {
  size_t n = 0;
  for (uint32_t pi = 0; pi < set.policies.size(); ++pi) {
    const Policy& p = set.policies[pi];
    if (!p.appliesToRoute(facts.route)) {
      continue;
    }
    for (uint32_t ri = 0; ri < p.rules.size(); ++ri) {
      const Rule& r = p.rules[ri];
      if (r.selector == SelectorKind::Global) {
        appendBuckets(set, pi, ri, resolveLimits(p, r, nullptr, facts.consumer, now), "g", "",
                      false, false, out, n);
        continue;
      }
      auto value = selectorValue(p, r, facts);
      if (!value) {
        if (!r.fallback.empty()) {
          appendBuckets(set, pi, ri, r.fallback, "f", "<fallback>", true, false, out, n);
        }
        continue;
      }
      const KeyEntry* entry = nullptr;
      if (!r.keys.empty()) {
        entry = findEntry(r, *value);
        if (!entry) {
          continue;
        }
      }
      const auto& limits = resolveLimits(p, r, entry, facts.consumer, now);
      if (r.perValue) {
        if (cap && r.maxKeys > 0 &&
            !cap->admit(p.name + '\x1f' + r.name, *value, r.maxKeys, longestWindow(limits), now)) {
          appendBuckets(set, pi, ri, limits, "o", "<overflow>", false, true, out, n);
          continue;
        }
        appendBuckets(set, pi, ri, limits, encodeKeyPart(*value), displayValue(*value), false,
                      false, out, n);
      } else if (!entry || entry->pattern.kind == KeyPattern::Kind::Exact) {
        // Exact entry (or no entries on a non-per rule: one shared bucket named by the value).
        const std::string& text = entry ? entry->pattern.text : *value;
        appendBuckets(set, pi, ri, limits, encodeKeyPart(text), displayValue(text), false, false,
                      out, n);
      } else {
        std::string part = "k";
        part.push_back("EARC"[static_cast<int>(entry->pattern.kind)]);
        part += encodeKeyPart(entry->pattern.text).substr(1);
        appendBuckets(set, pi, ri, limits, part, displayValue(entry->pattern.text), false, false,
                      out, n);
      }
    }
  }
  out.resize(n);
}

std::vector<MatchedBucket> match(const PolicySet& set, const RequestFacts& facts,
                                 store::TimePoint now, DistinctKeyCap* cap) {
  std::vector<MatchedBucket> out;
  matchInto(set, facts, now, out, cap);
  return out;
}

std::optional<std::string> queryParam(std::string_view query, std::string_view name, bool strict) {
  if (strict && query.find(';') != std::string_view::npos) {
    return std::nullopt;  // Go >= 1.17 rejects ';' separators
  }
  std::optional<std::string> found;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = std::min(query.find('&', pos), query.size());
    std::string_view pair = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) {
      continue;
    }
    size_t eq = pair.find('=');
    auto k = unescapeQuery(pair.substr(0, eq));
    auto v = unescapeQuery(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!k || !v) {
      if (strict) {
        return std::nullopt;
      }
      continue;
    }
    if (!found && *k == name) {
      found = std::move(*v);
      if (!strict) {
        return found;
      }
    }
  }
  return found;
}

std::optional<std::string_view> cookieValue(std::string_view header, std::string_view name) {
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t semi = std::min(header.find(';', pos), header.size());
    std::string_view seg = core::trimOws(header.substr(pos, semi - pos));
    pos = semi + 1;
    size_t eq = seg.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    if (seg.substr(0, eq) == name) {
      return seg.substr(eq + 1);
    }
  }
  return std::nullopt;
}

std::optional<IpAddress> clientIpFrom(std::string_view peer, std::string_view xff,
                                      unsigned trustedProxies) {
  auto peerIp = parseIp(peer);
  if (trustedProxies == 0 || xff.empty()) {
    return peerIp;
  }
  std::vector<std::string_view> entries;
  size_t pos = 0;
  while (pos <= xff.size()) {
    size_t c = std::min(xff.find(',', pos), xff.size());
    entries.push_back(core::trimOws(xff.substr(pos, c - pos)));
    pos = c + 1;
  }
  if (entries.size() < trustedProxies) {
    return peerIp;
  }
  auto ip = parseIp(entries[entries.size() - trustedProxies]);
  return ip ? ip : peerIp;
}

std::array<uint8_t, 32> sha256Of(std::string_view data) {
  std::array<uint8_t, 32> d{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data());
  return d;
}

std::optional<std::string> presentedKey(
    const std::vector<KeySource>& sources,
    const std::function<std::optional<std::string_view>(std::string_view)>& header,
    std::string_view query, KeySource* source) {
  static const std::vector<KeySource> kDefault = {{KeySource::Kind::AuthorizationBearer, ""},
                                                  {KeySource::Kind::XApiKey, ""}};
  auto hdr = [&](std::string_view n) -> std::optional<std::string_view> {
    return header ? header(n) : std::nullopt;
  };
  for (const auto& s : sources.empty() ? kDefault : sources) {
    std::optional<std::string> key;
    switch (s.kind) {
      case KeySource::Kind::AuthorizationBearer: {
        auto v = hdr("authorization");
        if (v) {
          auto t = core::trimOws(*v);
          if (core::istartsWith(t, "bearer ")) {
            key = std::string(core::trimOws(t.substr(7)));
          }
        }
        break;
      }
      case KeySource::Kind::XApiKey: {
        auto v = hdr("x-api-key");
        if (v) {
          key = std::string(core::trimOws(*v));
        }
        break;
      }
      case KeySource::Kind::Header: {
        auto v = hdr(core::toLower(s.name));
        if (v) {
          key = std::string(core::trimOws(*v));
        }
        break;
      }
      case KeySource::Kind::QueryParam:
        key = queryParam(query, s.name, false);
        break;
    }
    if (key && !key->empty()) {
      if (source) {
        *source = s;
      }
      return key;
    }
  }
  return std::nullopt;
}

std::optional<KeyAuthMatch> findConsumerByKey(const std::vector<Consumer>& consumers,
                                              std::string_view presented) {
  if (presented.empty()) {
    return std::nullopt;
  }
  auto digest = sha256Of(presented);
  std::optional<KeyAuthMatch> found;
  // Every key is compared (no early exit), so timing does not tell which key is close.
  for (const auto& c : consumers) {
    for (const auto& k : c.keys) {
      if (CRYPTO_memcmp(digest.data(), k.sha256.data(), digest.size()) == 0 && !found) {
        found = KeyAuthMatch{&c, &k};
      }
    }
  }
  return found;
}

}  // namespace tg::limiter
