#include "limiter/policy.h"

#include <arpa/inet.h>
#include <re2/re2.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace tg::limiter {

std::optional<IpAddress> parseIp(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() > 45 || text.find('%') != std::string_view::npos) {
    return std::nullopt;
  }
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress ip;
  if (inet_pton(AF_INET, buf, ip.bytes.data()) == 1) {
    return ip;
  }
  if (inet_pton(AF_INET6, buf, ip.bytes.data()) != 1) {
    return std::nullopt;
  }
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(ip.bytes.data(), kMapped, 12) == 0) {
    IpAddress v4;
    std::memcpy(v4.bytes.data(), ip.bytes.data() + 12, 4);
    return v4;
  }
  ip.v6 = true;
  return ip;
}

std::string formatIp(const IpAddress& ip) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(ip.v6 ? AF_INET6 : AF_INET, ip.bytes.data(), buf, sizeof buf);
  return buf;
}

namespace {
IpAddress maskTo(IpAddress ip, unsigned bits) {
  unsigned total = ip.v6 ? 128 : 32;
  for (unsigned i = 0; i < total / 8; ++i) {
    unsigned keep = bits > i * 8 ? std::min(8u, bits - i * 8) : 0;
    ip.bytes[i] &= static_cast<uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
  }
  return ip;
}
}  // namespace

bool IpPrefix::contains(const IpAddress& ip) const {
  return ip.v6 == base.v6 && maskTo(ip, bits) == base;
}

std::optional<IpPrefix> parseIpPrefix(std::string_view text) {
  auto slash = text.find('/');
  auto ip = parseIp(text.substr(0, slash));
  if (!ip) {
    return std::nullopt;
  }
  bool mappedV4 = !ip->v6 && text.substr(0, slash).find(':') != std::string_view::npos;
  unsigned bits = ip->v6 ? 128 : 32;
  if (slash != std::string_view::npos) {
    auto len = text.substr(slash + 1);
    unsigned v = 0;
    auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), v);
    unsigned max = (ip->v6 || mappedV4) ? 128 : 32;
    if (len.empty() || ec != std::errc() || p != len.data() + len.size() || v > max) {
      return std::nullopt;
    }
    if (mappedV4) {
      if (v < 96) {
        return std::nullopt;  // would cover non-mapped IPv6 space; ambiguous
      }
      v -= 96;
    }
    bits = v;
  }
  return IpPrefix{maskTo(*ip, bits), static_cast<uint8_t>(bits)};
}

std::optional<std::string_view> Consumer::label(std::string_view n) const {
  for (const auto& [k, v] : labels) {
    if (k == n) {
      return std::string_view(v);
    }
  }
  return std::nullopt;
}

std::string_view quantityName(Quantity q) {
  switch (q) {
    case Quantity::TotalTokens:
      return "total_tokens";
    case Quantity::InputTokens:
      return "input_tokens";
    case Quantity::OutputTokens:
      return "output_tokens";
    case Quantity::WeightedTokens:
      return "weighted_tokens";
    case Quantity::Requests:
      return "requests";
    case Quantity::Concurrent:
      return "concurrent";
  }
  return "?";
}

AmountKind amountKindOf(Quantity q) {
  switch (q) {
    case Quantity::Requests:
      return AmountKind::Requests;
    case Quantity::Concurrent:
      return AmountKind::Concurrency;
    default:
      return AmountKind::Tokens;
  }
}

int64_t tokenAmount(Quantity q, const core::TokenUsage& c, const TokenWeights& w) {
  static constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  auto sat = [](uint64_t v) { return static_cast<int64_t>(std::min(v, kMax)); };
  switch (q) {
    case Quantity::TotalTokens:
      return sat(c.inputTokens > kMax - std::min(c.outputTokens, kMax)
                     ? kMax
                     : c.inputTokens + c.outputTokens);
    case Quantity::InputTokens:
      return sat(c.inputTokens);
    case Quantity::OutputTokens:
      return sat(c.outputTokens);
    case Quantity::WeightedTokens: {
      uint64_t cached = std::min(c.cachedInputTokens, c.inputTokens);
      double v = static_cast<double>(c.inputTokens - cached) * w.input +
                 static_cast<double>(cached) * w.cachedInput +
                 static_cast<double>(c.outputTokens) * w.output;
      v = std::ceil(v - 1e-9);  // 0.1 * 10 must stay 1, not become 2
      if (!(v > 0)) {
        return 0;
      }
      return v >= 9.2e18 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(v);
    }
    case Quantity::Requests:
    case Quantity::Concurrent:
      return 1;
  }
  return 0;
}

std::string_view selectorName(SelectorKind k) {
  switch (k) {
    case SelectorKind::Global:
      return "global";
    case SelectorKind::Consumer:
      return "consumer";
    case SelectorKind::ApiKey:
      return "api_key";
    case SelectorKind::Header:
      return "header";
    case SelectorKind::Param:
      return "param";
    case SelectorKind::Cookie:
      return "cookie";
    case SelectorKind::ClientIp:
      return "ip";
    case SelectorKind::Model:
      return "model";
  }
  return "?";
}

bool wildcardPattern(const std::string& key, KeyPattern& out, std::string& error) {
  error.clear();
  if (key == "*") {
    out.kind = KeyPattern::Kind::Any;
    out.text = key;
    return true;
  }
  if (key.rfind("regexp:", 0) != 0) {
    return false;
  }
  out.kind = KeyPattern::Kind::Regexp;
  out.text = key.substr(7);
  RE2::Options opts;
  opts.set_log_errors(false);
  auto re = std::make_shared<const RE2>(out.text, opts);
  if (!re->ok()) {
    error = re->error();
  }
  out.re = std::move(re);
  return true;
}

bool KeyPattern::matches(std::string_view value) const {
  switch (kind) {
    case Kind::Any:
      return true;
    case Kind::Exact:
      return value == text;
    case Kind::Regexp:
      return re && RE2::PartialMatch(value, *re);
    case Kind::Cidr: {
      auto ip = parseIp(value);
      return ip && prefix.contains(*ip);
    }
  }
  return false;
}

bool KeyPattern::matchesIp(const IpAddress& ip) const {
  switch (kind) {
    case Kind::Any:
      return true;
    case Kind::Cidr:
      return prefix.contains(ip);
    case Kind::Exact: {
      auto p = parseIp(text);
      return p && *p == ip;
    }
    case Kind::Regexp:
      return re && RE2::PartialMatch(formatIp(ip), *re);
  }
  return false;
}

bool Schedule::activeAt(int weekday, int minuteOfDay) const {
  auto dayOn = [&](int d) { return (weekdays >> ((d + 7) % 7)) & 1; };
  if (startMinute <= endMinute) {
    return dayOn(weekday) && minuteOfDay >= startMinute && minuteOfDay < endMinute;
  }
  // Wraps past midnight: the evening belongs to today, the morning to yesterday's range.
  return (dayOn(weekday) && minuteOfDay >= startMinute) ||
         (dayOn(weekday - 1) && minuteOfDay < endMinute);
}

double Policy::priorityOf(const Consumer* consumer) const {
  if (consumer == nullptr || priorities.empty()) {
    return 1.0;
  }
  if (std::optional<std::string_view> tier = consumer->label(tierLabel)) {
    for (const auto& [name, weight] : priorities) {
      if (name == *tier) {
        return weight;
      }
    }
  }
  return 1.0;
}

bool Policy::appliesToRoute(std::string_view route) const {
  if (routes.empty()) {
    return true;
  }
  for (const auto& r : routes) {
    if (r == route) {
      return true;
    }
  }
  return false;
}

}  // namespace tg::limiter
