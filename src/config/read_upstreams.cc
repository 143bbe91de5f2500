// `upstreams:` the providers requests are forwarded to (URL, TLS, timeouts, pool, header
// rules, circuit breaker).
#include <charconv>

#include "config/sections.h"

namespace tg::config {
namespace {

bool validHeaderName(const std::string& s) {
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

void headerMap(Reader& r, const YAML::Node& n, const std::string& path,
               std::vector<HeaderOp>& out) {
  if (!n || n.IsNull()) {
    return;
  }
  if (!n.IsMap()) {
    r.error(n, path, "must be a mapping of header name to value");
    return;
  }
  for (const auto& kv : n) {
    HeaderOp op;
    op.name = kv.first.Scalar();
    std::string sub = path + "." + op.name;
    if (!validHeaderName(op.name)) {
      r.error(kv.first, sub, "is not a valid HTTP header name");
      continue;
    }
    if (r.str(kv.second, sub, op.value)) {
      if (op.value.find_first_of("\r\n") != std::string::npos) {
        r.error(kv.second, sub, "header value must not contain CR or LF");
        continue;
      }
      out.push_back(std::move(op));
    }
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
                r.duration(v, p, false, cb.window);
              } else if (k == "min_requests") {
                r.integer(v, p, cb.minRequests, 1000000u);
              } else if (k == "open_for") {
                r.duration(v, p, false, cb.openFor);
              } else if (k == "max_open_for") {
                r.duration(v, p, false, cb.maxOpenFor);
              } else if (k == "half_open_probes") {
                r.integer(v, p, cb.halfOpenProbes, 1000u);
                if (cb.halfOpenProbes == 0) {
                  r.error(v, p, "must be at least 1");
                }
              } else if (k == "failure_statuses") {
                cb.failureStatuses.clear();
                r.listInto<CircuitBreakerConfig::StatusRange>(
                    v, p,
                    [&](const YAML::Node& item, const std::string& ip,
                        CircuitBreakerConfig::StatusRange& range) {
                      std::string s;
                      if (r.str(item, ip, s) && !parseStatusRange(s, range)) {
                        r.error(item, ip,
                                "must be a status (429) or a range (500-599) within 100-599, "
                                "got '" +
                                    s + "'");
                      }
                    },
                    cb.failureStatuses);
              }
            });
}

}  // namespace

void readUpstream(Reader& r, const YAML::Node& n, const std::string& path, UpstreamConfig& u) {
  bool sawUrl = false;
  r.forKeys(n, path,
            {"name", "url", "tls", "connect_timeout", "first_byte_timeout", "idle_timeout", "pool",
             "headers", "circuit_breaker", "max_concurrent", "max_tokens_in_flight", "queue"},
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
                r.duration(v, p, false, u.connectTimeout);
              } else if (k == "first_byte_timeout") {
                r.duration(v, p, false, u.firstByteTimeout);
              } else if (k == "idle_timeout") {
                r.duration(v, p, false, u.idleTimeout);
              } else if (k == "pool") {
                r.forKeys(v, p, {"max_idle", "idle_timeout"},
                          [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                            if (k2 == "max_idle") {
                              r.integer(v2, p2, u.poolMaxIdle, 100000u);
                            } else {
                              r.duration(v2, p2, false, u.poolIdleTimeout);
                            }
                          });
              } else if (k == "max_concurrent") {
                r.integer(v, p, u.gate.maxConcurrent, 1000000u);
              } else if (k == "max_tokens_in_flight") {
                r.integer(v, p, u.gate.maxTokensInFlight, uint64_t{1} << 50);
              } else if (k == "queue") {
                r.forKeys(v, p, {"max_queued", "max_wait", "default_max_tokens"},
                          [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                            if (k2 == "max_queued") {
                              r.integer(v2, p2, u.gate.maxQueued, 10000000u);
                            } else if (k2 == "max_wait") {
                              r.duration(v2, p2, true, u.gate.maxWait);
                            } else {
                              r.integer(v2, p2, u.gate.defaultMaxTokens, uint64_t{1} << 40);
                            }
                          });
              } else if (k == "circuit_breaker") {
                u.circuitBreaker.emplace();
                readCircuitBreaker(r, v, p, *u.circuitBreaker);
              } else if (k == "headers") {
                r.forKeys(v, p, {"remove", "set", "add"},
                          [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                            if (k2 == "remove") {
                              r.listInto<std::string>(
                                  v2, p2,
                                  [&](const YAML::Node& item, const std::string& ip,
                                      std::string& s) { r.str(item, ip, s); },
                                  u.removeHeaders);
                            } else {
                              headerMap(r, v2, p2, k2 == "set" ? u.setHeaders : u.addHeaders);
                            }
                          });
              }
            });
  if (!sawUrl && n.IsMap()) {
    r.error(n, path + ".url", "is required");
  }
}

}  // namespace tg::config
