#include "core/units.h"

#include <charconv>
#include <limits>

#include "core/strings.h"

namespace tg::core {
namespace {

// Splits "12.5ms" into 12.5 and "ms". Digits with at most one '.', then a unit.
bool splitNumber(std::string_view s, double& num, std::string_view& unit) {
  s = trimOws(s);
  size_t i = 0;
  bool dot = false;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && !dot))) {
    dot = dot || s[i] == '.';
    ++i;
  }
  if (i == 0) {
    return false;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + i, num);
  if (ec != std::errc() || p != s.data() + i) {
    return false;
  }
  unit = trimOws(s.substr(i));
  return true;
}

}  // namespace

std::optional<std::chrono::milliseconds> parseDuration(std::string_view s) {
  double n = 0;
  std::string_view unit;
  if (!splitNumber(s, n, unit)) {
    return std::nullopt;
  }
  double ms;
  if (unit.empty() || unit == "s") {
    ms = n * 1000;
  } else if (unit == "ms") {
    ms = n;
  } else if (unit == "m") {
    ms = n * 60'000;
  } else if (unit == "h") {
    ms = n * 3'600'000;
  } else if (unit == "d") {
    ms = n * 86'400'000;
  } else {
    return std::nullopt;
  }
  if (ms > 1e15) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<long long>(ms));
}

std::optional<uint64_t> parseSize(std::string_view s) {
  double n = 0;
  std::string_view unit;
  if (!splitNumber(s, n, unit)) {
    return std::nullopt;
  }
  double mult;
  if (unit.empty() || iequals(unit, "b")) {
    mult = 1;
  } else if (unit == "KiB" || unit == "k" || unit == "K") {
    mult = 1024.0;
  } else if (unit == "MiB" || unit == "M") {
    mult = 1024.0 * 1024;
  } else if (unit == "GiB" || unit == "G") {
    mult = 1024.0 * 1024 * 1024;
  } else if (unit == "KB") {
    mult = 1e3;
  } else if (unit == "MB") {
    mult = 1e6;
  } else if (unit == "GB") {
    mult = 1e9;
  } else {
    return std::nullopt;
  }
  double v = n * mult;
  if (v > static_cast<double>(std::numeric_limits<int64_t>::max())) {
    return std::nullopt;
  }
  return static_cast<uint64_t>(v);
}

}  // namespace tg::core
