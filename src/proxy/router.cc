#include "proxy/router.h"

#include "core/strings.h"

namespace tg::proxy {

namespace {

std::string_view hostWithoutPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(1, close - 1);
  }
  size_t colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool hostMatches(std::string_view pattern, std::string_view host) {
  if (pattern.empty()) {
    return true;
  }
  if (pattern.starts_with("*.")) {
    std::string_view suffix = pattern.substr(1);  // ".example.com"
    return host.size() > suffix.size() &&
           core::iequals(host.substr(host.size() - suffix.size()), suffix);
  }
  return core::iequals(pattern, host);
}

// Absolute-form targets are reduced to origin-form.
std::string_view originForm(std::string_view target) {
  if (!target.starts_with('/')) {
    size_t scheme = target.find("://");
    if (scheme != std::string_view::npos) {
      size_t rest = target.find_first_of("/?", scheme + 3);
      if (rest == std::string_view::npos) {
        return "/";
      }
      return target.substr(rest);  // "?q" when the path is empty: callers read it as "/?q"
    }
  }
  return target;
}

}  // namespace

std::string_view targetPath(std::string_view target) {
  target = originForm(target);
  size_t q = target.find('?');
  std::string_view path = q == std::string_view::npos ? target : target.substr(0, q);
  return path.empty() ? std::string_view("/") : path;
}

std::string_view targetQuery(std::string_view target) {
  size_t q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

const config::RouteConfig* matchRoute(const config::Config& cfg, std::string_view host,
                                      std::string_view path) {
  std::string_view h = hostWithoutPort(host);
  for (const auto& r : cfg.routes) {
    if (path.starts_with(r.pathPrefix) && hostMatches(r.matchHost, h)) {
      return &r;
    }
  }
  return nullptr;
}

std::string upstreamTarget(const config::RouteConfig& route, const config::UpstreamConfig& up,
                           std::string_view target) {
  std::string withSlash;
  target = originForm(target);
  if (!target.starts_with('/')) {  // "?q": an absolute-form target with an empty path
    withSlash = "/" + std::string(target);
    target = withSlash;
  }
  std::string rest;
  if (route.rewritePrefix && target.starts_with(route.pathPrefix)) {
    rest = *route.rewritePrefix;
    std::string_view tail = target.substr(route.pathPrefix.size());
    if (!rest.empty() && rest.back() == '/' && tail.starts_with('/')) {
      tail.remove_prefix(1);
    } else if ((rest.empty() || rest.back() != '/') && !tail.empty() && tail.front() != '/' &&
               tail.front() != '?') {
      rest += '/';
    }
    rest += tail;
    if (rest.empty() || (rest.front() != '/')) {
      rest.insert(rest.begin(), '/');
    }
  } else {
    rest = std::string(target);
  }
  return up.basePath + rest;
}

void appendUpstreamTarget(std::string& out, const config::RouteConfig& route,
                          const config::UpstreamConfig& up, std::string_view target) {
  if (route.rewritePrefix) {
    out += upstreamTarget(route, up, target);
    return;
  }
  target = originForm(target);
  out += up.basePath;
  if (!target.starts_with('/')) {
    out += '/';
  }
  out += target;
}

}  // namespace tg::proxy
