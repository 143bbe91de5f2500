#include "config/loader.h"

#include <arpa/inet.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "core/units.h"

namespace tg::config {
namespace {

// Walks the YAML tree, converting scalars after ${ENV} substitution and collecting errors.
// Every accessor records the path it read, so an error can always say where it is.
class Reader {
 public:
  Reader(const EnvLookup& env, std::vector<ConfigError>& errors) : env_(env), errors_(errors) {}

  void error(const YAML::Node& n, const std::string& path, const std::string& msg) {
    int line = n.IsDefined() ? n.Mark().line + 1 : 0;
    errors_.push_back({path, line, msg});
  }

  // Calls fn(key, value, path) for every key of a mapping; reports keys not in `allowed`.
  void forKeys(
      const YAML::Node& map, const std::string& path,
      std::initializer_list<std::string_view> allowed,
      const std::function<void(const std::string&, const YAML::Node&, const std::string&)>& fn) {
    if (!map || map.IsNull()) {
      return;
    }
    if (!map.IsMap()) {
      error(map, path, "must be a mapping");
      return;
    }
    for (const auto& kv : map) {
      std::string key = kv.first.Scalar();
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
  }

  bool str(const YAML::Node& n, const std::string& path, std::string& out) {
    if (n.IsNull()) {
      out.clear();
      return true;
    }
    if (!n.IsScalar()) {
      error(n, path, "must be a scalar");
      return false;
    }
    std::string err;
    std::string v = substituteEnv(n.Scalar(), env_, err);
    if (!err.empty()) {
      error(n, path, err);
      return false;
    }
    out = std::move(v);
    return true;
  }

  template <typename Int>
  void integer(const YAML::Node& n, const std::string& path, Int& out, Int max) {
    std::string s;
    if (!str(n, path, s)) {
      return;
    }
    unsigned long long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v > static_cast<unsigned long long>(max)) {
      error(n, path, "must be an integer from 0 to " + std::to_string(max) + ", got '" + s + "'");
      return;
    }
    out = static_cast<Int>(v);
  }

  void boolean(const YAML::Node& n, const std::string& path, bool& out) {
    std::string s;
    if (!str(n, path, s)) {
      return;
    }
    if (s == "true" || s == "yes" || s == "on") {
      out = true;
    } else if (s == "false" || s == "no" || s == "off") {
      out = false;
    } else {
      error(n, path, "must be true or false, got '" + s + "'");
    }
  }

  void duration(const YAML::Node& n, const std::string& path, Millis& out, bool allowZero) {
    std::string s;
    if (!str(n, path, s)) {
      return;
    }
    auto d = core::parseDuration(s);
    if (!d || (!allowZero && d->count() == 0)) {
      error(n, path,
            "must be a " + std::string(allowZero ? "" : "positive ") +
                "duration such as 500ms, 10s, 5m, 1h; got '" + s + "'");
      return;
    }
    out = *d;
  }

  void size(const YAML::Node& n, const std::string& path, uint64_t& out) {
    std::string s;
    if (!str(n, path, s)) {
      return;
    }
    auto v = core::parseSize(s);
    if (!v || *v == 0) {
      error(n, path, "must be a positive size such as 4096, 64KiB, 8MiB; got '" + s + "'");
      return;
    }
    out = *v;
  }

  template <typename T>
  void list(const YAML::Node& n, const std::string& path,
            const std::function<void(const YAML::Node&, const std::string&, T&)>& fn,
            std::vector<T>& out) {
    if (!n || n.IsNull()) {
      return;
    }
    if (!n.IsSequence()) {
      error(n, path, "must be a list");
      return;
    }
    for (size_t i = 0; i < n.size(); ++i) {
      T item{};
      fn(n[i], path + "[" + std::to_string(i) + "]", item);
      out.push_back(std::move(item));
    }
  }

  void headerMap(const YAML::Node& n, const std::string& path, std::vector<HeaderOp>& out) {
    if (!n || n.IsNull()) {
      return;
    }
    if (!n.IsMap()) {
      error(n, path, "must be a mapping of header name to value");
      return;
    }
    for (const auto& kv : n) {
      HeaderOp op;
      op.name = kv.first.Scalar();
      std::string sub = path + "." + op.name;
      if (!validHeaderName(op.name)) {
        error(kv.first, sub, "is not a valid HTTP header name");
        continue;
      }
      if (str(kv.second, sub, op.value)) {
        if (op.value.find_first_of("\r\n") != std::string::npos) {
          error(kv.second, sub, "header value must not contain CR or LF");
          continue;
        }
        out.push_back(std::move(op));
      }
    }
  }

  static bool validHeaderName(const std::string& s) {
    if (s.empty()) {
      return false;
    }
    for (char c : s) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
      if (!ok) {
        return false;
      }
    }
    return true;
  }

 private:
  const EnvLookup& env_;
  std::vector<ConfigError>& errors_;
};

void readServer(Reader& r, const YAML::Node& n, ServerConfig& s) {
  r.forKeys(n, "server",
            {"workers", "drain_timeout", "access_log", "ratelimit_log", "trusted_proxies"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "workers") {
                r.integer(v, p, s.workers, 1024u);
              } else if (k == "drain_timeout") {
                r.duration(v, p, s.drainTimeout, true);
              } else if (k == "access_log") {
                r.str(v, p, s.accessLog);
              } else if (k == "ratelimit_log") {
                r.str(v, p, s.rateLimitLog);
              } else if (k == "trusted_proxies") {
                r.integer(v, p, s.trustedProxies, 64u);
              }
            });
}

void readLimits(Reader& r, const YAML::Node& n, LimitsConfig& l) {
  r.forKeys(n, "limits",
            {"max_header_bytes", "max_headers", "max_body_bytes", "header_timeout", "body_timeout",
             "idle_timeout", "max_requests_per_connection"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "max_header_bytes") {
                r.size(v, p, l.maxHeaderBytes);
              } else if (k == "max_headers") {
                r.integer(v, p, l.maxHeaders, 10000u);
              } else if (k == "max_body_bytes") {
                r.size(v, p, l.maxBodyBytes);
              } else if (k == "header_timeout") {
                r.duration(v, p, l.headerTimeout, false);
              } else if (k == "body_timeout") {
                r.duration(v, p, l.bodyTimeout, false);
              } else if (k == "idle_timeout") {
                r.duration(v, p, l.idleTimeout, false);
              } else if (k == "max_requests_per_connection") {
                r.integer(v, p, l.maxRequestsPerConnection, uint64_t{1} << 62);
              }
            });
}

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
                r.forKeys(
                    v, p,
                    {"address", "addresses", "cluster", "username", "password", "database", "tls",
                     "connect_timeout", "timeout", "key_prefix"},
                    [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                      if (k2 == "address") {
                        std::string a;
                        if (r.str(v2, p2, a)) {
                          rc.addresses.push_back(a);
                        }
                      } else if (k2 == "addresses") {
                        if (!v2.IsSequence()) {
                          r.error(v2, p2, "must be a list of host:port");
                          return;
                        }
                        for (size_t i = 0; i < v2.size(); ++i) {
                          std::string a;
                          if (r.str(v2[i], p2 + "[" + std::to_string(i) + "]", a)) {
                            rc.addresses.push_back(a);
                          }
                        }
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
                        r.duration(v2, p2, rc.connectTimeout, false);
                      } else if (k2 == "timeout") {
                        r.duration(v2, p2, rc.timeout, false);
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

// `admin:` (docs/admin.md). The section's presence enables the admin listener.
void readAdmin(Reader& r, const YAML::Node& n, AdminConfig& a) {
  a.enabled = true;
  r.forKeys(n, "admin", {"enabled", "listen", "token"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "enabled") {
                r.boolean(v, p, a.enabled);
              } else if (k == "listen") {
                if (r.str(v, p, a.listen) && !parseHostPort(a.listen, a.host, a.port)) {
                  r.error(v, p, "must be host:port (or [ipv6]:port), got '" + a.listen + "'");
                }
              } else if (k == "token") {
                r.str(v, p, a.token);
              }
            });
}

// `quota:` (docs/admin.md#quotas): per-consumer token quotas, like Higress's ai-quota.
void readQuota(Reader& r, const YAML::Node& n, QuotaConfig& q, std::vector<int>& routeLines) {
  r.forKeys(n, "quota", {"enabled", "routes", "failure_mode"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "enabled") {
                r.boolean(v, p, q.enabled);
              } else if (k == "routes") {
                if (!v.IsSequence()) {
                  r.error(v, p, "must be a list of route names");
                  return;
                }
                for (size_t i = 0; i < v.size(); ++i) {
                  std::string name;
                  if (r.str(v[i], p + "[" + std::to_string(i) + "]", name)) {
                    q.routes.push_back(name);
                    routeLines.push_back(v[i].Mark().line + 1);
                  }
                }
              } else if (k == "failure_mode") {
                std::string m;
                if (r.str(v, p, m)) {
                  if (m == "open" || m == "closed") {
                    q.failClosed = m == "closed";
                  } else {
                    r.error(v, p, "must be open or closed, got '" + m + "'");
                  }
                }
              }
            });
}

void readListener(Reader& r, const YAML::Node& n, const std::string& path, ListenerConfig& l) {
  bool sawAddress = false;
  r.forKeys(n, path, {"address", "tls"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "address") {
                sawAddress = true;
                if (r.str(v, p, l.address) && !parseHostPort(l.address, l.host, l.port)) {
                  r.error(v, p, "must be host:port (or [ipv6]:port), got '" + l.address + "'");
                }
              } else if (k == "tls") {
                TlsServerConfig t;
                r.forKeys(v, p, {"cert_file", "key_file"},
                          [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                            r.str(v2, p2, k2 == "cert_file" ? t.certFile : t.keyFile);
                          });
                if (t.certFile.empty() || t.keyFile.empty()) {
                  r.error(v, p, "needs both cert_file and key_file");
                }
                l.tls = t;
              }
            });
  if (!sawAddress && n.IsMap()) {
    r.error(n, path + ".address", "is required");
  }
}

// "500", "500-599" (inclusive), each within 100..599.
bool parseStatusRange(const std::string& s, CircuitBreakerConfig::StatusRange& out) {
  auto num = [](std::string_view t, int& v) {
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    return ec == std::errc() && p == t.data() + t.size() && v >= 100 && v <= 599;
  };
  const size_t dash = s.find('-');
  if (dash == std::string::npos) {
    return num(s, out.from) && num(s, out.to);
  }
  std::string_view all(s);
  return num(all.substr(0, dash), out.from) && num(all.substr(dash + 1), out.to) &&
         out.from <= out.to;
}

void readCircuitBreaker(Reader& r, const YAML::Node& n, const std::string& path,
                        CircuitBreakerConfig& cb) {
  r.forKeys(n, path,
            {"consecutive_failures", "error_rate", "window", "min_requests", "open_for",
             "max_open_for", "half_open_probes", "failure_statuses"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "consecutive_failures") {
                r.integer(v, p, cb.consecutiveFailures, 1000000u);
              } else if (k == "error_rate") {
                std::string s;
                if (r.str(v, p, s)) {
                  std::string_view t(s);
                  if (t.ends_with('%')) {
                    t.remove_suffix(1);
                  }
                  unsigned pct = 0;
                  auto [e, ec] = std::from_chars(t.data(), t.data() + t.size(), pct);
                  if (t.empty() || ec != std::errc() || e != t.data() + t.size() || pct > 100) {
                    r.error(v, p, "must be a percentage from 0% to 100%, got '" + s + "'");
                  } else {
                    cb.errorRatePercent = pct;
                  }
                }
              } else if (k == "window") {
                r.duration(v, p, cb.window, false);
              } else if (k == "min_requests") {
                r.integer(v, p, cb.minRequests, 1000000u);
              } else if (k == "open_for") {
                r.duration(v, p, cb.openFor, false);
              } else if (k == "max_open_for") {
                r.duration(v, p, cb.maxOpenFor, false);
              } else if (k == "half_open_probes") {
                r.integer(v, p, cb.halfOpenProbes, 1000u);
                if (cb.halfOpenProbes == 0) {
                  r.error(v, p, "must be at least 1");
                }
              } else if (k == "failure_statuses") {
                cb.failureStatuses.clear();
                r.list<CircuitBreakerConfig::StatusRange>(
                    v, p,
                    [&](const YAML::Node& item, const std::string& ip,
                        CircuitBreakerConfig::StatusRange& range) {
                      std::string s;
                      if (r.str(item, ip, s) && !parseStatusRange(s, range)) {
                        r.error(item, ip,
                                "must be a status (429) or a range (500-599) within 100-599, "
                                "got '" + s + "'");
                      }
                    },
                    cb.failureStatuses);
              }
            });
}

void readUpstream(Reader& r, const YAML::Node& n, const std::string& path, UpstreamConfig& u) {
  bool sawUrl = false;
  r.forKeys(n, path,
            {"name", "url", "tls", "connect_timeout", "first_byte_timeout", "idle_timeout", "pool",
             "headers", "circuit_breaker"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "name") {
                r.str(v, p, u.name);
              } else if (k == "url") {
                sawUrl = true;
                if (r.str(v, p, u.url)) {
                  std::string err = parseUpstreamUrl(u.url, u);
                  if (!err.empty()) {
                    r.error(v, p, "'" + u.url + "' " + err);
                  }
                }
              } else if (k == "tls") {
                r.forKeys(v, p, {"verify", "ca_file", "server_name"},
                          [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                            if (k2 == "verify") {
                              r.boolean(v2, p2, u.tls.verify);
                            } else if (k2 == "ca_file") {
                              r.str(v2, p2, u.tls.caFile);
                            } else {
                              r.str(v2, p2, u.tls.serverName);
                            }
                          });
              } else if (k == "connect_timeout") {
                r.duration(v, p, u.connectTimeout, false);
              } else if (k == "first_byte_timeout") {
                r.duration(v, p, u.firstByteTimeout, false);
              } else if (k == "idle_timeout") {
                r.duration(v, p, u.idleTimeout, false);
              } else if (k == "pool") {
                r.forKeys(v, p, {"max_idle", "idle_timeout"},
                          [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                            if (k2 == "max_idle") {
                              r.integer(v2, p2, u.poolMaxIdle, 100000u);
                            } else {
                              r.duration(v2, p2, u.poolIdleTimeout, false);
                            }
                          });
              } else if (k == "circuit_breaker") {
                u.circuitBreaker.emplace();
                readCircuitBreaker(r, v, p, *u.circuitBreaker);
              } else if (k == "headers") {
                r.forKeys(v, p, {"remove", "set", "add"},
                          [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                            if (k2 == "remove") {
                              r.list<std::string>(
                                  v2, p2,
                                  [&](const YAML::Node& item, const std::string& ip,
                                      std::string& s) { r.str(item, ip, s); },
                                  u.removeHeaders);
                            } else {
                              r.headerMap(v2, p2, k2 == "set" ? u.setHeaders : u.addHeaders);
                            }
                          });
              }
            });
  if (!sawUrl && n.IsMap()) {
    r.error(n, path + ".url", "is required");
  }
}

void readRoute(Reader& r, const YAML::Node& n, const std::string& path, RouteConfig& rt) {
  r.forKeys(n, path,
            {"name", "match", "upstream", "fallback_upstream", "rewrite_prefix", "dialect",
             "inject_include_usage", "key_auth"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "name") {
                r.str(v, p, rt.name);
              } else if (k == "match") {
                r.forKeys(v, p, {"host", "path_prefix"},
                          [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                            r.str(v2, p2, k2 == "host" ? rt.matchHost : rt.pathPrefix);
                            if (k2 == "path_prefix" && !rt.pathPrefix.starts_with('/')) {
                              r.error(v2, p2, "must start with '/'");
                            }
                          });
              } else if (k == "upstream") {
                r.str(v, p, rt.upstream);
              } else if (k == "fallback_upstream") {
                r.str(v, p, rt.fallbackUpstream);
              } else if (k == "rewrite_prefix") {
                std::string s;
                if (r.str(v, p, s)) {
                  rt.rewritePrefix = s;
                }
              } else if (k == "inject_include_usage") {
                r.boolean(v, p, rt.injectIncludeUsage);
              } else if (k == "key_auth") {
                std::string s;
                if (r.str(v, p, s)) {
                  if (s == "off") {
                    rt.keyAuth = KeyAuth::Off;
                  } else if (s == "optional") {
                    rt.keyAuth = KeyAuth::Optional;
                  } else if (s == "required") {
                    rt.keyAuth = KeyAuth::Required;
                  } else {
                    r.error(v, p, "must be off, optional or required, got '" + s + "'");
                  }
                }
              } else if (k == "dialect") {
                std::string s;
                if (r.str(v, p, s)) {
                  if (s == "openai") {
                    rt.dialect = Dialect::OpenAI;
                  } else if (s == "anthropic") {
                    rt.dialect = Dialect::Anthropic;
                  } else if (s == "gemini") {
                    rt.dialect = Dialect::Gemini;
                  } else {
                    r.error(v, p, "must be openai, anthropic or gemini, got '" + s + "'");
                  }
                }
              }
            });
}

// Line numbers of list items, for validate()'s errors about whole entries.
struct Lines {
  std::vector<int> listeners, upstreams, routes;
  std::vector<int> quotaRoutes;
  int admin = 0;
};

int lineOf(const std::vector<int>& lines, size_t i) { return i < lines.size() ? lines[i] : 0; }

// True for 127.0.0.0/8, ::1 and "localhost"; `isIp` tells whether `host` is an IP literal.
bool loopbackHost(const std::string& host, bool& isIp) {
  in_addr v4{};
  in6_addr v6{};
  isIp = true;
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  isIp = false;
  return host == "localhost";
}

void validateAdminAndQuota(const Config& cfg, const Lines& lines,
                           const std::function<void(std::string, int, std::string)>& add) {
  const AdminConfig& a = cfg.admin;
  if (a.enabled) {
    bool isIp = false;
    bool loopback = loopbackHost(a.host, isIp);
    if (!isIp && a.host != "localhost") {
      add("admin.listen", lines.admin, "the host must be an IP address or localhost, got '" +
                                           a.host + "'");
    } else if (!loopback && a.token.empty()) {
      add("admin.token", lines.admin,
          "is required when admin.listen is not a loopback address (every admin endpoint would "
          "be open)");
    }
    if (a.token.starts_with("sha256:")) {
      std::string_view hex = std::string_view(a.token).substr(7);
      bool ok = hex.size() == 64;
      for (char c : hex) {
        ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
      }
      if (!ok) {
        add("admin.token", lines.admin, "a sha256: token needs 64 hex digits");
      }
    }
  }
  for (size_t i = 0; i < cfg.quota.routes.size(); ++i) {
    const std::string& name = cfg.quota.routes[i];
    bool found = false;
    for (const auto& rt : cfg.routes) {
      found = found || rt.name == name;
    }
    if (!found) {
      add("quota.routes[" + std::to_string(i) + "]", lineOf(lines.quotaRoutes, i),
          "names no route: '" + name + "'");
    }
  }
}

std::vector<ConfigError> validateWithLines(Config& cfg, const Lines& lines) {
  std::vector<ConfigError> errs;
  auto add = [&](std::string path, int line, std::string msg) {
    errs.push_back({std::move(path), line, std::move(msg)});
  };
  if (cfg.listeners.empty()) {
    add("listeners", 0, "at least one listener is required");
  }
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    const auto& l = cfg.listeners[i];
    std::string p = "listeners[" + std::to_string(i) + "]";
    if (l.tls) {
      for (const auto* f : {&l.tls->certFile, &l.tls->keyFile}) {
        if (!f->empty() && ::access(f->c_str(), R_OK) != 0) {
          add(p + ".tls", lineOf(lines.listeners, i), "cannot read file '" + *f + "'");
        }
      }
    }
  }
  std::set<std::string> names;
  for (size_t i = 0; i < cfg.upstreams.size(); ++i) {
    auto& u = cfg.upstreams[i];
    std::string p = "upstreams[" + std::to_string(i) + "]";
    if (u.name.empty()) {
      add(p + ".name", lineOf(lines.upstreams, i), "is required");
    } else if (!names.insert(u.name).second) {
      add(p + ".name", lineOf(lines.upstreams, i), "duplicate upstream name '" + u.name + "'");
    }
    if (!u.tls.caFile.empty() && ::access(u.tls.caFile.c_str(), R_OK) != 0) {
      add(p + ".tls.ca_file", lineOf(lines.upstreams, i),
          "cannot read file '" + u.tls.caFile + "'");
    }
  }
  if (cfg.routes.empty()) {
    add("routes", 0, "at least one route is required");
  }
  for (size_t i = 0; i < cfg.routes.size(); ++i) {
    auto& rt = cfg.routes[i];
    std::string p = "routes[" + std::to_string(i) + "]";
    if (rt.name.empty()) {
      rt.name = "route" + std::to_string(i);
    }
    bool found = false;
    for (size_t j = 0; j < cfg.upstreams.size(); ++j) {
      if (cfg.upstreams[j].name == rt.upstream) {
        rt.upstreamIndex = j;
        found = true;
      }
    }
    if (rt.upstream.empty()) {
      add(p + ".upstream", lineOf(lines.routes, i), "is required");
    } else if (!found) {
      add(p + ".upstream", lineOf(lines.routes, i), "names no upstream: '" + rt.upstream + "'");
    }
    if (!rt.fallbackUpstream.empty()) {
      for (size_t j = 0; j < cfg.upstreams.size(); ++j) {
        if (cfg.upstreams[j].name == rt.fallbackUpstream) {
          rt.fallbackIndex = j;
        }
      }
      if (!rt.fallbackIndex) {
        add(p + ".fallback_upstream", lineOf(lines.routes, i),
            "names no upstream: '" + rt.fallbackUpstream + "'");
      } else if (rt.fallbackUpstream == rt.upstream) {
        add(p + ".fallback_upstream", lineOf(lines.routes, i), "must differ from upstream");
      }
    }
    if (rt.rewritePrefix && !rt.rewritePrefix->empty() && !rt.rewritePrefix->starts_with('/')) {
      add(p + ".rewrite_prefix", lineOf(lines.routes, i), "must be empty or start with '/'");
    }
  }
  validateAdminAndQuota(cfg, lines, add);
  return errs;
}

// The line of each list item's `key` (the field validate() complains about), or of the item.
std::vector<int> itemLines(const YAML::Node& n, const char* key) {
  std::vector<int> out;
  if (n && n.IsSequence()) {
    for (const auto& item : n) {
      YAML::Node k = item.IsMap() ? item[key] : YAML::Node();
      out.push_back((k.IsDefined() ? k.Mark().line : item.Mark().line) + 1);
    }
  }
  return out;
}

}  // namespace

std::vector<ConfigError> validate(Config& cfg) { return validateWithLines(cfg, Lines{}); }

LoadResult loadConfigString(std::string_view yaml, const EnvLookup& env) {
  LoadResult res;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    res.errors.push_back({"", e.mark.line + 1, "invalid YAML: " + e.msg});
    return res;
  }
  Config cfg;
  Reader r(env, res.errors);
  if (!root.IsMap()) {
    res.errors.push_back({"", 1, "the document must be a mapping"});
    return res;
  }
  Lines lines;
  r.forKeys(
      root, "",
      {"server", "listeners", "limits", "upstreams", "routes", "tokenizer", "rate_limits",
       "higress", "store", "admin", "quota"},
      [&](const std::string& k, const YAML::Node& v, const std::string& p) {
        if (k == "rate_limits" || k == "higress") {
          return;  // the limiter's sections: read by app/config_file.h (limiter/config_reader.h)
        } else if (k == "server") {
          readServer(r, v, cfg.server);
        } else if (k == "store") {
          readStore(r, v, cfg.store);
        } else if (k == "admin") {
          lines.admin = v.Mark().line + 1;
          readAdmin(r, v, cfg.admin);
        } else if (k == "quota") {
          readQuota(r, v, cfg.quota, lines.quotaRoutes);
        } else if (k == "limits") {
          readLimits(r, v, cfg.limits);
        } else if (k == "tokenizer") {
          r.forKeys(v, p, {"data_dir"},
                    [&](const std::string&, const YAML::Node& v2, const std::string& p2) {
                      r.str(v2, p2, cfg.tokenizer.dataDir);
                    });
        } else if (k == "listeners") {
          lines.listeners = itemLines(v, "tls");
          r.list<ListenerConfig>(
              v, p, [&](auto& n, auto& ip, auto& l) { readListener(r, n, ip, l); }, cfg.listeners);
        } else if (k == "upstreams") {
          lines.upstreams = itemLines(v, "name");
          r.list<UpstreamConfig>(
              v, p, [&](auto& n, auto& ip, auto& u) { readUpstream(r, n, ip, u); }, cfg.upstreams);
        } else if (k == "routes") {
          lines.routes = itemLines(v, "upstream");
          r.list<RouteConfig>(
              v, p, [&](auto& n, auto& ip, auto& rt) { readRoute(r, n, ip, rt); }, cfg.routes);
        }
      });
  // Whole-config checks run even after field errors, so one `check` lists every problem.
  for (auto& e : validateWithLines(cfg, lines)) {
    res.errors.push_back(std::move(e));
  }
  if (res.errors.empty()) {
    res.config = std::move(cfg);
  }
  return res;
}

LoadResult loadConfigFile(const std::string& file, const EnvLookup& env) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    LoadResult res;
    res.errors.push_back({"", 0, "cannot read config file '" + file + "'"});
    return res;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return loadConfigString(ss.str(), env);
}

std::string formatError(const std::string& file, const ConfigError& e) {
  std::string s = file;
  if (e.line > 0) {
    s += ":" + std::to_string(e.line);
  }
  s += ": ";
  if (!e.path.empty()) {
    s += e.path + ": ";
  }
  return s + e.message;
}

}  // namespace tg::config
