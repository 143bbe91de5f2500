#pragma once
// Internal to config/: the YAML walking helpers every section reader (read_*.cc) uses. Every
// accessor records the YAML path it read and the 1-based line, and never throws: yaml-cpp is
// only asked for scalars of nodes already known to be scalars. Scalars get ${ENV}
// substitution (config/env.h) when an EnvLookup is given. A Reader is used by one load on one
// thread.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "config/env.h"
#include "config/error.h"

namespace tg::config {

class Reader {
 public:
  using KeyFn = std::function<void(const std::string&, const YAML::Node&, const std::string&)>;
  using ItemFn = std::function<void(const YAML::Node&, const std::string&)>;

  // `env` may be null: no ${ENV} substitution. Errors are appended to `errors`.
  Reader(std::vector<ConfigError>& errors, const EnvLookup* env) : errors_(errors), env_(env) {}

  void error(const YAML::Node& n, const std::string& path, const std::string& msg);
  size_t errorCount() const { return errors_.size(); }
  static int lineOf(const YAML::Node& n) { return n.IsDefined() ? n.Mark().line + 1 : 0; }
  static Mark markOf(const YAML::Node& n, const std::string& path) { return {path, lineOf(n)}; }

  // fn(key, value, path) for each key of a mapping; keys not in `allowed` are errors.
  // Returns false (and reports) when `map` is neither absent, null nor a mapping.
  bool forKeys(const YAML::Node& map, const std::string& path,
               std::initializer_list<std::string_view> allowed, const KeyFn& fn);
  // A scalar after ${ENV} substitution; null or absent reads as "".
  bool str(const YAML::Node& n, const std::string& path, std::string& out);
  // A signed integer in [min, max]; the message says "must be an integer from min to max".
  bool integer(const YAML::Node& n, const std::string& path, int64_t min, int64_t max,
               int64_t& out);
  // An unsigned integer from 0 to max, into any integer type.
  template <typename Int>
  bool integer(const YAML::Node& n, const std::string& path, Int& out, Int max) {
    int64_t v = 0;
    if (!integer(n, path, 0, static_cast<int64_t>(max), v)) {
      return false;
    }
    out = static_cast<Int>(v);
    return true;
  }
  bool boolean(const YAML::Node& n, const std::string& path, bool& out);
  // A duration ("500ms", "10s", "5m", "1h", "1d"; a bare number is seconds). `examples` is
  // the list shown in the error message.
  bool duration(const YAML::Node& n, const std::string& path, bool allowZero,
                std::chrono::milliseconds& out, std::string_view examples = "500ms, 10s, 5m, 1h");
  // A positive size ("4096", "64KiB", "8MiB").
  bool size(const YAML::Node& n, const std::string& path, uint64_t& out);
  // A decimal number from 0 to 1000000.
  bool number(const YAML::Node& n, const std::string& path, double& out);
  // fn(item, path) for each item of a sequence; a scalar is NOT promoted to a one-item list.
  bool list(const YAML::Node& n, const std::string& path, const ItemFn& fn);
  // Same, appending one T per item to `out` (fn fills it).
  template <typename T>
  void listInto(const YAML::Node& n, const std::string& path,
                const std::function<void(const YAML::Node&, const std::string&, T&)>& fn,
                std::vector<T>& out) {
    list(n, path, [&](const YAML::Node& item, const std::string& p) {
      T value{};
      fn(item, p, value);
      out.push_back(std::move(value));
    });
  }
  // A list of scalars (each after ${ENV} substitution) with each one's mark; `what` completes
  // "must be a list of ..." when `n` is not a sequence.
  void strings(const YAML::Node& n, const std::string& path, const char* what,
               std::vector<std::string>& out, std::vector<Mark>* marks = nullptr);

 private:
  std::vector<ConfigError>& errors_;
  const EnvLookup* env_;
};

}  // namespace tg::config
