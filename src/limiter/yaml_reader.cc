#include "limiter/yaml_reader.h"

#include <charconv>
#include <cstdlib>

#include "core/units.h"

namespace tg::limiter {

void YamlReader::error(const YAML::Node& n, const std::string& path, const std::string& msg) {
  errors_.push_back({path, lineOf(n), msg});
}

bool YamlReader::forKeys(
    const YAML::Node& map, const std::string& path, std::initializer_list<std::string_view> allowed,
    const std::function<void(const std::string&, const YAML::Node&, const std::string&)>& fn) {
  if (!map || map.IsNull()) {
    return true;
  }
  if (!map.IsMap()) {
    error(map, path, "must be a mapping");
    return false;
  }
  for (const auto& kv : map) {
    std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    std::string sub = path.empty() ? key : path + "." + key;
    bool known = false;
    for (auto a : allowed) {
      known = known || a == key;
    }
    if (!known) {
      error(kv.first, sub, "unknown key");
      continue;
    }
    fn(key, kv.second, sub);
  }
  return true;
}

bool YamlReader::str(const YAML::Node& n, const std::string& path, std::string& out) {
  if (!n || n.IsNull()) {
    out.clear();
    return true;
  }
  if (!n.IsScalar()) {
    error(n, path, "must be a scalar");
    return false;
  }
  if (!env_) {
    out = n.Scalar();
    return true;
  }
  std::string err;
  std::string v = config::substituteEnv(n.Scalar(), *env_, err);
  if (!err.empty()) {
    error(n, path, err);
    return false;
  }
  out = std::move(v);
  return true;
}

bool YamlReader::integer(const YAML::Node& n, const std::string& path, int64_t min, int64_t max,
                         int64_t& out) {
  std::string s;
  if (!str(n, path, s)) {
    return false;
  }
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < min || v > max) {
    error(n, path,
          "must be an integer from " + std::to_string(min) + " to " + std::to_string(max) +
              ", got '" + s + "'");
    return false;
  }
  out = v;
  return true;
}

bool YamlReader::boolean(const YAML::Node& n, const std::string& path, bool& out) {
  std::string s;
  if (!str(n, path, s)) {
    return false;
  }
  if (s == "true" || s == "yes" || s == "on") {
    out = true;
  } else if (s == "false" || s == "no" || s == "off") {
    out = false;
  } else {
    error(n, path, "must be true or false, got '" + s + "'");
    return false;
  }
  return true;
}

bool YamlReader::duration(const YAML::Node& n, const std::string& path, bool allowZero,
                          std::chrono::milliseconds& out) {
  std::string s;
  if (!str(n, path, s)) {
    return false;
  }
  auto d = core::parseDuration(s);
  if (!d || (!allowZero && d->count() == 0)) {
    error(n, path,
          "must be a " + std::string(allowZero ? "" : "positive ") +
              "duration such as 500ms, 10s, 5m, 1h, 1d; got '" + s + "'");
    return false;
  }
  out = *d;
  return true;
}

bool YamlReader::number(const YAML::Node& n, const std::string& path, double& out) {
  std::string s;
  if (!str(n, path, s)) {
    return false;
  }
  char* end = nullptr;
  double v = s.empty() ? -1 : std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !(v >= 0) || v > 1e6) {
    error(n, path, "must be a number from 0 to 1000000, got '" + s + "'");
    return false;
  }
  out = v;
  return true;
}

bool YamlReader::list(const YAML::Node& n, const std::string& path,
                      const std::function<void(const YAML::Node&, const std::string&)>& fn) {
  if (!n || n.IsNull()) {
    return true;
  }
  if (!n.IsSequence()) {
    error(n, path, "must be a list");
    return false;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    fn(n[i], path + "[" + std::to_string(i) + "]");
  }
  return true;
}

}  // namespace tg::limiter
