// `store:` where rate-limit buckets live (docs/ratelimiting.md, docs/redis.md).
#include "config/sections.h"

namespace tg::config {

namespace {

bool leaseMode(Reader& r, const YAML::Node& v, const std::string& p, bool& enabled) {
  std::string m;
  if (!r.str(v, p, m)) {
    return false;
  }
  if (m == "leased") {
    enabled = true;
  } else if (m == "exact") {
    enabled = false;
  } else {
    r.error(v, p, "must be leased or exact, got '" + m + "'");
    return false;
  }
  return true;
}

// `lease: leased | exact`, or `lease: {mode, ttl, max_share, min_limit}`.
void readLease(Reader& r, const YAML::Node& n, const std::string& path,
               RedisStoreConfig::Lease& l) {
  if (n.IsScalar()) {
    leaseMode(r, n, path, l.enabled);
    return;
  }
  r.forKeys(n, path, {"mode", "ttl", "max_share", "min_limit"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "mode") {
                leaseMode(r, v, p, l.enabled);
              } else if (k == "ttl") {
                r.duration(v, p, false, l.ttl);
              } else if (k == "max_share") {
                if (r.number(v, p, l.maxShare) && !(l.maxShare > 0.0 && l.maxShare <= 1.0)) {
                  r.error(v, p, "must be a fraction in (0, 1], such as 0.0625");
                }
              } else if (k == "min_limit") {
                r.integer(v, p, l.minLimit, uint64_t{1} << 50);
              }
            });
}

}  // namespace

void readStore(Reader& r, const YAML::Node& n, StoreConfig& st) {
  st.configured = true;
  r.forKeys(n, "store", {"type", "max_buckets", "redis"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "type") {
                std::string t;
                if (r.str(v, p, t)) {
                  if (t == "memory") {
                    st.type = StoreConfig::Type::Memory;
                  } else if (t == "redis") {
                    st.type = StoreConfig::Type::Redis;
                  } else {
                    r.error(v, p, "must be memory or redis, got '" + t + "'");
                  }
                }
              } else if (k == "max_buckets") {
                r.integer(v, p, st.maxBuckets, uint64_t{1} << 32);
              } else if (k == "redis") {
                RedisStoreConfig& rc = st.redis;
                r.forKeys(v, p,
                          {"address", "addresses", "cluster", "username", "password", "database",
                           "tls", "connect_timeout", "timeout", "key_prefix", "lease"},
                          [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                            if (k2 == "address") {
                              std::string a;
                              if (r.str(v2, p2, a)) {
                                rc.addresses.push_back(a);
                              }
                            } else if (k2 == "addresses") {
                              r.strings(v2, p2, "host:port", rc.addresses);
                            } else if (k2 == "cluster") {
                              r.boolean(v2, p2, rc.cluster);
                            } else if (k2 == "username") {
                              r.str(v2, p2, rc.username);
                            } else if (k2 == "password") {
                              r.str(v2, p2, rc.password);
                            } else if (k2 == "database") {
                              r.integer(v2, p2, rc.database, 65535u);
                            } else if (k2 == "tls") {
                              rc.tls = true;
                              r.forKeys(v2, p2, {"enabled", "ca_file", "verify", "server_name"},
                                        [&](const std::string& k3, const YAML::Node& v3,
                                            const std::string& p3) {
                                          if (k3 == "enabled") {
                                            r.boolean(v3, p3, rc.tls);
                                          } else if (k3 == "ca_file") {
                                            r.str(v3, p3, rc.caFile);
                                          } else if (k3 == "verify") {
                                            r.boolean(v3, p3, rc.tlsVerify);
                                          } else if (k3 == "server_name") {
                                            r.str(v3, p3, rc.serverName);
                                          }
                                        });
                            } else if (k2 == "connect_timeout") {
                              r.duration(v2, p2, false, rc.connectTimeout);
                            } else if (k2 == "timeout") {
                              r.duration(v2, p2, false, rc.timeout);
                            } else if (k2 == "lease") {
                              readLease(r, v2, p2, rc.lease);
                            } else if (k2 == "key_prefix") {
                              r.str(v2, p2, rc.keyPrefix);
                              if (rc.keyPrefix.find('{') != std::string::npos) {
                                r.error(v2, p2, "must not contain '{' (Redis Cluster hash tags)");
                              }
                            }
                          });
              }
            });
  if (st.type == StoreConfig::Type::Redis) {
    if (st.redis.addresses.empty()) {
      r.error(n, "store.redis.address", "is required when store.type is redis");
    }
    for (const auto& a : st.redis.addresses) {
      std::string host;
      uint16_t port = 0;
      if (!parseHostPort(a, host, port) || port == 0) {
        r.error(n, "store.redis.address", "'" + a + "' is not host:port");
      }
    }
  }
}

}  // namespace tg::config
