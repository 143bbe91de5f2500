#pragma once
// Route selection and path rewriting. Pure functions over the config.

#include <string>
#include <string_view>

#include "config/config.h"

namespace tg::proxy {

// The first route whose host and path prefix match, or null. `host` is the Host header
// (a port, if any, is ignored); `path` the request target's path.
const config::RouteConfig* matchRoute(const config::Config& cfg, std::string_view host,
                                      std::string_view path);

// The target to send upstream: the route's rewrite applied to `target` (path and query),
// prefixed with the upstream URL's base path.
std::string upstreamTarget(const config::RouteConfig& route, const config::UpstreamConfig& up,
                           std::string_view target);

// The same, appended to `out` (the request path reuses one string per connection).
void appendUpstreamTarget(std::string& out, const config::RouteConfig& route,
                          const config::UpstreamConfig& up, std::string_view target);

// The path part of a request target: an absolute-form target ("http://h/p?q") is reduced to
// "/p", and the query is dropped.
std::string_view targetPath(std::string_view target);
// The query of a request target, without the '?'; "" when there is none.
std::string_view targetQuery(std::string_view target);

}  // namespace tg::proxy
