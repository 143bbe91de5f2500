#pragma once
// Helpers shared by the limiter's unit tests: loading a `rate_limits:` / `higress:` document
// (failing the test with every error when it does not load), and a request described as plain
// data whose facts() the matcher reads. Header-only; test code only.

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "limiter/config_reader.h"
#include "limiter/rules.h"

namespace tg::limiter::testing {

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
