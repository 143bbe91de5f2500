#pragma once
// Loads a Config from YAML text. Loading never throws and never half-applies: the result is
// either a complete, validated Config or the list of every error found, each with the YAML
// path ("upstreams[0].url") and the 1-based line it was found on. Unknown keys are errors, so
// a typo cannot silently fall back to a default.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/env.h"

namespace tg::config {

struct ConfigError {
  std::string path;  // e.g. "routes[1].upstream"; "" for the document itself
  int line = 0;      // 1-based; 0 when unknown
  std::string message;
};

struct LoadResult {
  std::optional<Config> config;  // set only when errors is empty
  std::vector<ConfigError> errors;
};

LoadResult loadConfigString(std::string_view yaml, const EnvLookup& env);
LoadResult loadConfigFile(const std::string& file, const EnvLookup& env);

// Checks a Config as a whole (names, references, files). Used by the loader and by the CLI's
// quick-start path, which builds a Config without YAML.
std::vector<ConfigError> validate(Config& cfg);

// "file:line: path: message", the format `tokengate check` prints.
std::string formatError(const std::string& file, const ConfigError& e);

}  // namespace tg::config
