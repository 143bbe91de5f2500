// Whole-config checks (names, references, files) after every section was read.
#include <arpa/inet.h>
#include <unistd.h>

#include <functional>
#include <set>

#include "config/sections.h"

namespace tg::config {
namespace {

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

void validateAdminAndQuota(const Config& cfg, const ItemLines& lines,
                           const std::function<void(std::string, int, std::string)>& add) {
  const AdminConfig& a = cfg.admin;
  if (a.enabled) {
    bool isIp = false;
    bool loopback = loopbackHost(a.host, isIp);
    if (!isIp && a.host != "localhost") {
      add("admin.listen", lines.admin,
          "the host must be an IP address or localhost, got '" + a.host + "'");
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

}  // namespace

std::vector<ConfigError> validateWithLines(Config& cfg, const ItemLines& lines) {
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

}  // namespace tg::config
