#pragma once
// Internal to limiter/: the YAML walking helpers shared by config_reader.cc and higress.cc,
// modelled on config/loader.cc's Reader (kept separate so limiter/ does not edit config/).
// Every accessor records the YAML path it read and the 1-based line, and never throws:
// yaml-cpp is only asked for scalars of nodes already known to be scalars.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/env.h"
#include "config/loader.h"

namespace tg::limiter {

using ConfigError = config::ConfigError;

class YamlReader {
 public:
  // `env` may be null: no ${ENV} substitution.
  YamlReader(std::vector<ConfigError>& errors, const config::EnvLookup* env)
      : errors_(errors), env_(env) {}

  void error(const YAML::Node& n, const std::string& path, const std::string& msg);
  size_t errorCount() const { return errors_.size(); }

  // fn(key, value, path) for each key of a mapping; keys not in `allowed` are errors.
  // Returns false (and reports) when `map` is neither null nor a mapping.
  bool forKeys(
      const YAML::Node& map, const std::string& path,
      std::initializer_list<std::string_view> allowed,
      const std::function<void(const std::string&, const YAML::Node&, const std::string&)>& fn);
  bool str(const YAML::Node& n, const std::string& path, std::string& out);
  // Signed integer in [min, max]; message says "must be <what>".
  bool integer(const YAML::Node& n, const std::string& path, int64_t min, int64_t max,
               int64_t& out);
  bool boolean(const YAML::Node& n, const std::string& path, bool& out);
  // Duration ("500ms", "10s", "5m", "1h", "1d"; bare number = seconds).
  bool duration(const YAML::Node& n, const std::string& path, bool allowZero,
                std::chrono::milliseconds& out);
  bool number(const YAML::Node& n, const std::string& path, double& out);
  // Sequence items as (node, path); a scalar is NOT promoted to a one-item list.
  bool list(const YAML::Node& n, const std::string& path,
            const std::function<void(const YAML::Node&, const std::string&)>& fn);

  static int lineOf(const YAML::Node& n) { return n.IsDefined() ? n.Mark().line + 1 : 0; }

 private:
  std::vector<ConfigError>& errors_;
  const config::EnvLookup* env_;
};

}  // namespace tg::limiter
