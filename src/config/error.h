#pragma once
// Where a configuration value came from, and an error about it. Every reader in config/ and
// every compiler of config structs (limiter::compile) reports with these, so `tokengate check`
// can print "file:line: path: message" for each problem.

#include <string>

namespace tg::config {

// The YAML path ("rate_limits.policies[0].rules[2]") and 1-based line (0 = unknown) of a
// value. Plain-data config structs carry one for each value a later step may reject.
struct Mark {
  std::string path;
  int line = 0;
};

struct ConfigError {
  std::string path;  // e.g. "routes[1].upstream"; "" for the document itself
  int line = 0;      // 1-based; 0 when unknown
  std::string message;
};

inline ConfigError errorAt(const Mark& m, std::string message) {
  return ConfigError{m.path, m.line, std::move(message)};
}

}  // namespace tg::config
