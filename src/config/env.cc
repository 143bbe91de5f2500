#include "config/env.h"

#include <cstdlib>

namespace tg::config {

EnvLookup processEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) {
      return std::nullopt;
    }
    return std::string(v);
  };
}

std::string substituteEnv(std::string_view in, const EnvLookup& env, std::string& error) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    if (in.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (in.compare(i, 2, "${") != 0) {
      out += in[i++];
      continue;
    }
    size_t close = in.find('}', i + 2);
    if (close == std::string_view::npos) {
      error = "unterminated ${ in value";
      return "";
    }
    std::string_view inner = in.substr(i + 2, close - i - 2);
    std::optional<std::string_view> fallback;
    if (size_t d = inner.find(":-"); d != std::string_view::npos) {
      fallback = inner.substr(d + 2);
      inner = inner.substr(0, d);
    }
    bool validName = !inner.empty();
    for (char c : inner) {
      validName = validName && (c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                (c >= '0' && c <= '9'));
    }
    if (!validName) {
      error = "invalid environment variable name in ${" + std::string(inner) + "}";
      return "";
    }
    std::optional<std::string> value = env(std::string(inner));
    if (value && (!value->empty() || !fallback)) {
      out += *value;
    } else if (fallback) {
      out += *fallback;
    } else {
      error = "environment variable " + std::string(inner) + " is not set";
      return "";
    }
    i = close + 1;
  }
  return out;
}

}  // namespace tg::config
