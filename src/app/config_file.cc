#include "app/config_file.h"

#include "limiter/compile.h"

namespace tg::app {

namespace {

int lineAt(const std::vector<int>& lines, size_t i) { return i < lines.size() ? lines[i] : 0; }

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
                const config::Document* doc) {
  for (size_t i = 0; i < set.policies.size(); ++i) {
    const limiter::Policy& p = set.policies[i];
    for (const std::string& route : p.routes) {
      bool found = false;
      for (const auto& r : cfg.routes) {
        found = found || r.name == route;
      }
      if (!found) {
        errors.push_back({"rate_limits.policies[" + std::to_string(i) + "].routes",
                          doc != nullptr && i < doc->rateLimits.policies.size()
                              ? doc->rateLimits.policies[i].routesMark.line
                              : 0,
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
                        doc != nullptr ? lineAt(doc->lines.routeKeyAuth, i) : 0,
                        "is required, but rate_limits.consumers is empty: every request would "
                        "get 401"});
    }
  }
}

GatewayLoadResult loadGatewayConfig(config::ReadResult read) {
  GatewayLoadResult res;
  res.errors = std::move(read.errors);
  if (!read.mapping) {
    return res;  // not YAML, or not a mapping: nothing more to check
  }
  config::Document& doc = read.document;
  // Whole-config checks run even after field errors, so one `check` lists every problem.
  for (auto& e : config::validate(doc)) {
    res.errors.push_back(std::move(e));
  }
  limiter::LimitsLoadResult lim = limiter::compile(doc.rateLimits, doc.higress);
  for (auto& e : lim.errors) {
    res.errors.push_back(std::move(e));
  }
  if (!res.errors.empty()) {
    return res;
  }
  applyHigressRedis(doc.config, *lim.policies, res.notes);
  crossCheck(doc.config, *lim.policies, res.errors, res.notes, &doc);
  if (res.errors.empty()) {
    res.config =
        GatewayConfig{std::move(doc.config),
                      std::make_shared<const limiter::PolicySet>(std::move(*lim.policies))};
  }
  return res;
}

GatewayLoadResult loadGatewayConfigString(std::string_view yaml, const config::EnvLookup& env) {
  return loadGatewayConfig(config::readDocument(yaml, &env));
}

GatewayLoadResult loadGatewayConfigFile(const std::string& file, const config::EnvLookup& env) {
  return loadGatewayConfig(config::readDocumentFile(file, &env));
}

bool isFragment(const config::ReadResult& read) {
  return read.mapping && !read.document.has("listeners");
}

FragmentCheck checkFragment(const config::ReadResult& read) {
  FragmentCheck res;
  res.sections = read.document.sections;
  res.errors = read.errors;
  limiter::LimitsLoadResult lim = limiter::compile(read.document.rateLimits, read.document.higress);
  for (auto& e : lim.errors) {
    res.errors.push_back(std::move(e));
  }
  if (lim.policies) {
    res.policies = lim.policies->policies.size();
    res.consumers = lim.policies->consumers.size();
  }
  return res;
}

}  // namespace tg::app
