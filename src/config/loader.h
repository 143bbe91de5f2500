#pragma once
// Reads the configuration file: the ONE place YAML is parsed (config/ is the only module that
// sees yaml-cpp). Reading never throws and never half-applies. Each top-level section has its
// own reader (read_<section>.cc) that fills plain structs:
//   server, listeners, limits, upstreams, routes, tokenizer, store, admin, quota -> Config
//   rate_limits -> RateLimitsConfig (config/rate_limits.h)
//   higress     -> HigressConfig    (config/higress.h)
// and every error carries the YAML path ("upstreams[0].url") and the 1-based line it was found
// on. Unknown keys are errors, so a typo cannot silently fall back to a default.
//
// readDocument() reads every section present (a whole file or a fragment) without checking
// the Config as a whole; loadConfigString() also runs validate() and returns a complete
// Config. The rate-limit structs are compiled by limiter::compile (limiter/compile.h);
// app/config_file.h joins the two.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/env.h"
#include "config/error.h"
#include "config/higress.h"
#include "config/rate_limits.h"

namespace tg::config {

// The 1-based lines of list items, for the whole-config checks (0 = unknown).
struct ItemLines {
  std::vector<int> listeners, upstreams, routes;  // of the field validate() names, or the item
  std::vector<int> routeKeyAuth;                  // routes[i].key_auth, or the item
  std::vector<int> quotaRoutes;
  int admin = 0;
};

// Every section of one YAML document, as read.
struct Document {
  Config config;  // the proxy's sections; not validated as a whole yet
  RateLimitsConfig rateLimits;
  std::vector<HigressConfig> higress;
  std::vector<std::string> sections;  // the top-level keys present, in document order
  ItemLines lines;
  bool has(std::string_view section) const;
};

struct ReadResult {
  Document document;                // what could be read (complete only when errors is empty)
  std::vector<ConfigError> errors;  // the readers' errors
  bool mapping = false;             // the text was YAML and its top level a mapping
};

// `env`: ${ENV} substitution; nullptr = none (values are taken as written).
ReadResult readDocument(std::string_view yaml, const EnvLookup* env);
ReadResult readDocumentFile(const std::string& file, const EnvLookup* env);

// The text of one Higress ai-token-ratelimit config (YAML or JSON, as a WasmPlugin's
// defaultConfig holds it). Returns the config only when it read without errors.
std::optional<HigressConfig> readHigressDocument(std::string_view text,
                                                 std::vector<ConfigError>& errors);

struct LoadResult {
  std::optional<Config> config;  // set only when errors is empty
  std::vector<ConfigError> errors;
};

// readDocument + validate(): a complete, validated Config (rate-limit sections are read and
// their shape checked, but not compiled).
LoadResult loadConfigString(std::string_view yaml, const EnvLookup& env);
LoadResult loadConfigFile(const std::string& file, const EnvLookup& env);

// Checks a Config as a whole (names, references, files). Used by the loader and by the CLI's
// quick-start path, which builds a Config without YAML. The Document form reports lines.
std::vector<ConfigError> validate(Config& cfg);
std::vector<ConfigError> validate(Document& doc);

// "file:line: path: message", the format `tokengate check` prints.
std::string formatError(const std::string& file, const ConfigError& e);

}  // namespace tg::config
