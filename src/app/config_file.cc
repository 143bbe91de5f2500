#include "app/config_file.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "limiter/config_reader.h"

namespace tg::app {

namespace {

// 1-based line of root[a][i][b] (0 when absent), for cross-check errors.
int lineOf(const YAML::Node* root, const char* a, size_t i, const char* b, const char* c = nullptr) {
  if (root == nullptr) {
    return 0;
  }
  try {
    YAML::Node n = (*root)[a];
    if (c != nullptr) {
      n = n[c];  // rate_limits -> policies
    }
    if (!n.IsSequence() || i >= n.size()) {
      return 0;
    }
    YAML::Node item = n[i];
    YAML::Node leaf = item[b];
    return (leaf ? leaf.Mark().line : item.Mark().line) + 1;
  } catch (const YAML::Exception&) {  // config loading only, never the request path
    return 0;
  }
}

}  // namespace

void applyHigressRedis(config::Config& cfg, const limiter::PolicySet& set,
                       std::vector<std::string>& notes) {
  if (cfg.store.configured) {
    return;
  }
  for (const limiter::Policy& p : set.policies) {
    if (!p.redis) {
      continue;
    }
    const limiter::RedisSettings& r = *p.redis;
    std::string host = r.serviceName;
    for (std::string_view suffix : {".static", ".dns"}) {
      if (host.size() > suffix.size() && host.ends_with(suffix)) {
        host.resize(host.size() - suffix.size());
      }
    }
    config::StoreConfig& st = cfg.store;
    st.type = config::StoreConfig::Type::Redis;
    st.redis.addresses = {(host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                          std::to_string(r.servicePort)};
    st.redis.username = r.username;
    st.redis.password = r.password;
    st.redis.database = r.database;
    st.redis.timeout = r.timeout;
    notes.push_back("policy '" + p.name + "': its Higress redis block selects the Redis store at " +
                    st.redis.addresses[0] + " (no store: section)");
    return;  // the first block decides, as one gateway has one store
  }
}

void crossCheck(const config::Config& cfg, const limiter::PolicySet& set,
                std::vector<config::ConfigError>& errors, std::vector<std::string>& notes,
                const YAML::Node* root) {
  for (size_t i = 0; i < set.policies.size(); ++i) {
    const limiter::Policy& p = set.policies[i];
    for (const std::string& route : p.routes) {
      bool found = false;
      for (const auto& r : cfg.routes) {
        found = found || r.name == route;
      }
      if (!found) {
        errors.push_back({"rate_limits.policies[" + std::to_string(i) + "].routes",
                          lineOf(root, "rate_limits", i, "routes", "policies"),
                          "no route named '" + route + "' (policy '" + p.name + "')"});
      }
    }
    if (p.redis && cfg.store.type == config::StoreConfig::Type::Memory) {
      notes.push_back("policy '" + p.name + "': Higress redis block (service_name '" +
                      p.redis->serviceName + ":" + std::to_string(p.redis->servicePort) +
                      "') accepted; store.type is memory, so counters are per gateway "
                      "instance");
    }
  }
  for (size_t i = 0; i < cfg.routes.size(); ++i) {
    const auto& r = cfg.routes[i];
    if (r.keyAuth == config::KeyAuth::Required && set.consumers.empty()) {
      errors.push_back({"routes[" + std::to_string(i) + "].key_auth",
                        lineOf(root, "routes", i, "key_auth"),
                        "is required, but rate_limits.consumers is empty: every request would "
                        "get 401"});
    }
  }
}

GatewayLoadResult loadGatewayConfigString(std::string_view yaml, const config::EnvLookup& env) {
  GatewayLoadResult res;
  config::LoadResult base = config::loadConfigString(yaml, env);
  res.errors = std::move(base.errors);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception&) {
    return res;  // already reported by the base loader
  }
  if (!root.IsMap()) {
    return res;
  }
  limiter::LimitsLoadResult lim = limiter::readLimitsConfig(root["rate_limits"], root["higress"],
                                                            &env);
  for (auto& e : lim.errors) {
    res.errors.push_back(std::move(e));
  }
  if (!res.errors.empty()) {
    return res;
  }
  applyHigressRedis(*base.config, *lim.policies, res.notes);
  crossCheck(*base.config, *lim.policies, res.errors, res.notes, &root);
  if (res.errors.empty()) {
    res.config = GatewayConfig{std::move(*base.config),
                               std::make_shared<const limiter::PolicySet>(std::move(*lim.policies))};
  }
  return res;
}

GatewayLoadResult loadGatewayConfigFile(const std::string& file, const config::EnvLookup& env) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    GatewayLoadResult res;
    res.errors.push_back({"", 0, "cannot read config file '" + file + "'"});
    return res;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return loadGatewayConfigString(ss.str(), env);
}

}  // namespace tg::app
