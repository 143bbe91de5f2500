#include "config/reader.h"

#include <charconv>
#include <cstdlib>

#include "core/units.h"

namespace tg::config {

void Reader::error(const YAML::Node& n, const std::string& path, const std::string& msg) {
  errors_.push_back({path, lineOf(n), msg});
}

bool Reader::forKeys(const YAML::Node& map, const std::string& path,
                     std::initializer_list<std::string_view> allowed, const KeyFn& fn) {
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

bool Reader::str(const YAML::Node& n, const std::string& path, std::string& out) {
  if (!n || n.IsNull()) {
    out.clear();
    return true;
  }
  if (!n.IsScalar()) {
    error(n, path, "must be a scalar");
    return false;
  }
  if (env_ == nullptr) {
    out = n.Scalar();
    return true;
  }
  std::string err;
  std::string v = substituteEnv(n.Scalar(), *env_, err);
  if (!err.empty()) {
    error(n, path, err);
    return false;
  }
  out = std::move(v);
  return true;
}

bool Reader::integer(const YAML::Node& n, const std::string& path, int64_t min, int64_t max,
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

bool Reader::boolean(const YAML::Node& n, const std::string& path, bool& out) {
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

bool Reader::duration(const YAML::Node& n, const std::string& path, bool allowZero,
                      std::chrono::milliseconds& out, std::string_view examples) {
  std::string s;
  if (!str(n, path, s)) {
    return false;
  }
  auto d = core::parseDuration(s);
  if (!d || (!allowZero && d->count() == 0)) {
    error(n, path,
          "must be a " + std::string(allowZero ? "" : "positive ") + "duration such as " +
              std::string(examples) + "; got '" + s + "'");
    return false;
  }
  out = *d;
  return true;
}

bool Reader::size(const YAML::Node& n, const std::string& path, uint64_t& out) {
  std::string s;
  if (!str(n, path, s)) {
    return false;
  }
  auto v = core::parseSize(s);
  if (!v || *v == 0) {
    error(n, path, "must be a positive size such as 4096, 64KiB, 8MiB; got '" + s + "'");
    return false;
  }
  out = *v;
  return true;
}

bool Reader::number(const YAML::Node& n, const std::string& path, double& out) {
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

bool Reader::list(const YAML::Node& n, const std::string& path, const ItemFn& fn) {
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

void Reader::strings(const YAML::Node& n, const std::string& path, const char* what,
                     std::vector<std::string>& out, std::vector<Mark>* marks) {
  if (!n.IsSequence()) {
    error(n, path, std::string("must be a list of ") + what);
    return;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    std::string item = path + "[" + std::to_string(i) + "]";
    std::string s;
    if (str(n[i], item, s)) {
      out.push_back(std::move(s));
      if (marks != nullptr) {
        marks->push_back(markOf(n[i], item));
      }
    }
  }
}

}  // namespace tg::config
