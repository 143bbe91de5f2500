#include "knobs.h"

#include <charconv>

namespace tg::sim {
namespace {

// Upper bounds keep a typo from turning into an hour-long or memory-hungry response.
constexpr long kMaxTokens = 10'000'000;
constexpr long kMaxMillis = 3'600'000;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<long> parseInt(std::string_view text, long min, long max) {
  text = trim(text);
  long value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

std::optional<bool> parseBool(std::string_view text) {
  text = trim(text);
  if (text == "1" || text == "true") {
    return true;
  }
  if (text == "0" || text == "false") {
    return false;
  }
  return std::nullopt;
}

std::string invalid(std::string_view name, std::string_view value, std::string_view expected) {
  std::string message = "invalid value '";
  message.append(value).append("' for knob ").append(name).append(" (expected ");
  message.append(expected).append(")");
  return message;
}

}  // namespace

std::string applyKnob(Knobs& knobs, std::string_view name, std::string_view value) {
  name = trim(name);
  int* int_field = nullptr;
  long max = kMaxMillis;
  if (name == "tokens") {
    int_field = &knobs.tokens;
    max = kMaxTokens;
  } else if (name == "delay_ms") {
    int_field = &knobs.delay_ms;
  } else if (name == "ttft_ms") {
    int_field = &knobs.ttft_ms;
  }
  if (int_field != nullptr) {
    auto parsed = parseInt(value, 0, max);
    if (!parsed) {
      return invalid(name, value, "integer 0.." + std::to_string(max));
    }
    *int_field = static_cast<int>(*parsed);
    return {};
  }
  if (name == "status") {
    auto parsed = parseInt(value, 200, 599);
    if (!parsed) {
      return invalid(name, value, "HTTP status 200..599");
    }
    knobs.status = static_cast<int>(*parsed);
    return {};
  }
  if (name == "cut_after") {
    if (trim(value) == "never" || trim(value) == "-1") {
      knobs.cut_after.reset();
      return {};
    }
    auto parsed = parseInt(value, 0, kMaxTokens);
    if (!parsed) {
      return invalid(name, value, "integer >= 0 or 'never'");
    }
    knobs.cut_after = static_cast<int>(*parsed);
    return {};
  }
  bool* bool_field = nullptr;
  if (name == "omit_usage") {
    bool_field = &knobs.omit_usage;
  } else if (name == "gzip") {
    bool_field = &knobs.gzip;
  }
  if (bool_field != nullptr) {
    auto parsed = parseBool(value);
    if (!parsed) {
      return invalid(name, value, "0, 1, true or false");
    }
    *bool_field = *parsed;
    return {};
  }
  std::string message = "unknown knob '";
  message.append(name).append("'");
  return message;
}

ModelSpec splitModel(std::string_view model) {
  auto at = model.find('@');
  if (at == std::string_view::npos) {
    return {model, {}};
  }
  return {model.substr(0, at), model.substr(at + 1)};
}

std::string applyModelKnobs(Knobs& knobs, std::string_view list) {
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (trim(item).empty()) {
      continue;
    }
    auto eq = item.find('=');
    if (eq == std::string_view::npos) {
      std::string message = "model knob '";
      message.append(item).append("' is not key=value");
      return message;
    }
    std::string error = applyKnob(knobs, item.substr(0, eq), item.substr(eq + 1));
    if (!error.empty()) {
      return error;
    }
  }
  return {};
}

}  // namespace tg::sim
