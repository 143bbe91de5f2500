// Fuzz target: config::loadConfigString on arbitrary text. The loader promises never to throw
// (an escaping yaml-cpp exception ends the process, which counts as a crash here) and to
// return either a validated Config or a list of errors. The checks below hold that promise
// to its details: a loaded Config satisfies what validate() guarantees, and every error has
// a plausible line and renders through formatError.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "config/loader.h"

namespace {

// Deterministic fake environment: names starting with 'U' are unset.
std::optional<std::string> fakeEnv(const std::string& name) {
  if (name.empty() || name[0] == 'U') {
    return std::nullopt;
  }
  return std::string("8080");
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_config: %s\n", what.c_str());
  std::abort();
}

void checkConfig(const tg::config::Config& c) {
  if (c.listeners.empty() || c.routes.empty()) {
    fail("loaded a config without listeners or routes");
  }
  for (const auto& u : c.upstreams) {
    if (u.name.empty() || u.port == 0 || u.host.empty()) {
      fail("loaded an upstream without name, host or port: " + u.url);
    }
    if (!u.basePath.empty() && (u.basePath.front() != '/' || u.basePath.back() == '/')) {
      fail("upstream base path not normalised: '" + u.basePath + "'");
    }
  }
  for (const auto& r : c.routes) {
    if (r.upstreamIndex >= c.upstreams.size() || c.upstreams[r.upstreamIndex].name != r.upstream) {
      fail("route '" + r.name + "' resolved to the wrong upstream");
    }
    if (r.pathPrefix.empty() || r.pathPrefix.front() != '/') {
      fail("route '" + r.name + "' has path prefix '" + r.pathPrefix + "'");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static const tg::config::EnvLookup env = fakeEnv;
  tg::config::LoadResult r = tg::config::loadConfigString(in, env);
  if (r.config.has_value() == !r.errors.empty()) {
    fail(r.config ? "a config was returned together with errors" : "no config and no error either");
  }
  if (r.config) {
    checkConfig(*r.config);
  }
  // yaml-cpp counts a line at each '\n', '\r' or "\r\n".
  int maxLine = 1 + static_cast<int>(std::count(in.begin(), in.end(), '\n') +
                                     std::count(in.begin(), in.end(), '\r'));
  for (const auto& e : r.errors) {
    if (e.line < 0 || e.line > maxLine) {
      fail("error line " + std::to_string(e.line) + " outside the document (" +
           std::to_string(maxLine) + " lines): " + e.message);
    }
    if (e.message.empty()) {
      fail("error without a message at " + e.path);
    }
    std::string text = tg::config::formatError("f.yaml", e);
    if (!text.starts_with("f.yaml")) {
      fail("formatError lost the file name: " + text);
    }
  }
  return 0;
}
