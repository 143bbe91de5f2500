#pragma once
// ${NAME} substitution in config values. `${NAME}` is replaced by the environment variable
// NAME, `${NAME:-default}` falls back to `default` when NAME is unset or empty, and `$${`
// stands for a literal `${`. Pure: the environment is passed in, so tests control it.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tg::config {

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The process environment (getenv).
EnvLookup processEnv();

// Returns the substituted text, or sets `error` (e.g. "environment variable X is not set")
// and returns "".
std::string substituteEnv(std::string_view in, const EnvLookup& env, std::string& error);

}  // namespace tg::config
