#pragma once
// Internal to config/: one reader per top-level section of the configuration file, each in
// its own read_<section>.cc, all walking YAML with config/reader.h. Readers check the shape of
// their section and fill plain structs (config.h, rate_limits.h, higress.h); loader.cc
// dispatches the document's keys to them and validate.cc checks the result as a whole.

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "config/higress.h"
#include "config/loader.h"
#include "config/rate_limits.h"
#include "config/reader.h"

namespace tg::config {

void readServer(Reader& r, const YAML::Node& n, ServerConfig& s);
void readLimits(Reader& r, const YAML::Node& n, LimitsConfig& l);
void readListener(Reader& r, const YAML::Node& n, const std::string& path, ListenerConfig& l);
void readUpstream(Reader& r, const YAML::Node& n, const std::string& path, UpstreamConfig& u);
void readRoute(Reader& r, const YAML::Node& n, const std::string& path, RouteConfig& rt);
void readStore(Reader& r, const YAML::Node& n, StoreConfig& st);
void readAdmin(Reader& r, const YAML::Node& n, AdminConfig& a);
void readQuota(Reader& r, const YAML::Node& n, QuotaConfig& q, std::vector<int>& routeLines);
void readRateLimits(Reader& r, const YAML::Node& n, const std::string& path, RateLimitsConfig& out);
// `higress:` holds one ai-token-ratelimit config or a list of them; each config that read
// without errors is appended.
void readHigress(Reader& r, const YAML::Node& n, const std::string& path,
                 std::vector<HigressConfig>& out);
// One config at `path` ("" for a whole document); false when it had errors.
bool readHigressConfig(Reader& r, const YAML::Node& n, const std::string& path, HigressConfig& out);

// Whole-config checks with the lines of list items (loader.h: validate()).
std::vector<ConfigError> validateWithLines(Config& cfg, const ItemLines& lines);

}  // namespace tg::config
