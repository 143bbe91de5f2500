#pragma once
// Helpers shared by the limiter's unit tests: loading a `rate_limits:` / `higress:` document
// the way a config file is loaded (read by config/, compiled by limiter::compile), failing the
// test with every error when it does not load, and a request described as plain
// data whose facts() the matcher reads. Header-only; test code only.

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "config/loader.h"
#include "limiter/compile.h"
#include "limiter/higress.h"
#include "limiter/rules.h"

namespace tg::limiter::testing {

// A document with `rate_limits:` and/or `higress:`, read by config::readDocument (no ${ENV})
// and compiled: every read and compile error, or the PolicySet.
inline LimitsLoadResult loadLimitsString(const std::string& yaml) {
  config::ReadResult read = config::readDocument(yaml, nullptr);
  LimitsLoadResult res;
  res.errors = std::move(read.errors);
  if (!read.mapping) {
    return res;
  }
  LimitsLoadResult lim = compile(read.document.rateLimits, read.document.higress);
  for (auto& e : lim.errors) {
    res.errors.push_back(std::move(e));
  }
  if (res.errors.empty()) {
    res.policies = std::move(lim.policies);
  }
  return res;
}

// One Higress ai-token-ratelimit config (the whole text, YAML or JSON), read and compiled.
inline std::optional<Policy> parseHigressConfig(const std::string& text,
                                                std::vector<config::ConfigError>& errors) {
  auto c = config::readHigressDocument(text, errors);
  return c ? compileHigress(*c, errors) : std::nullopt;
}

// The PolicySet of `yaml`; an empty set, and a test failure listing every error, when it does
// not load.
inline PolicySet loadPolicies(const std::string& yaml) {
  auto res = loadLimitsString(yaml);
  std::string errs;
  for (const auto& e : res.errors) {
    errs += std::to_string(e.line) + " " + e.path + ": " + e.message + "\n";
  }
  EXPECT_TRUE(res.policies.has_value()) << errs;
  return res.policies ? *res.policies : PolicySet{};
}

// A request as the matcher sees it. facts() views into this object: keep it alive.
struct Req {
  std::map<std::string, std::string> headers;  // lower-case names
  std::string query, cookies, ip, model, route = "chat", apiKeyId;
  const Consumer* consumer = nullptr;
  RequestFacts facts() const {
    RequestFacts f;
    f.header = [this](std::string_view n) -> std::optional<std::string_view> {
      auto it = headers.find(std::string(n));
      if (it == headers.end()) return std::nullopt;
      return std::string_view(it->second);
    };
    f.query = query;
    f.cookies = cookies;
    f.clientIp = ip;
    f.model = model;
    f.route = route;
    f.apiKeyId = apiKeyId;
    f.consumer = consumer;
    return f;
  }
};

}  // namespace tg::limiter::testing
