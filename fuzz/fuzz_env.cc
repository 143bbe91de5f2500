// Fuzz target: config::substituteEnv on arbitrary text with a fixed fake environment.
// Checks the contract of config/env.h: text without "${" comes back unchanged, and an error
// always comes with an empty result.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "config/env.h"

namespace {

// Deterministic: names starting with 'U' are unset, with 'E' set but empty, others set.
std::optional<std::string> fakeEnv(const std::string& name) {
  if (name.empty() || name[0] == 'U') {
    return std::nullopt;
  }
  if (name[0] == 'E') {
    return std::string();
  }
  return "<" + name + ">";
}

void fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "fuzz_env: %s for input '%.*s'\n", what, static_cast<int>(input.size()),
               input.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static const tg::config::EnvLookup env = fakeEnv;
  std::string error;
  std::string out = tg::config::substituteEnv(in, env, error);
  if (!error.empty() && !out.empty()) {
    fail("error with a non-empty result", in);
  }
  if (in.find("${") == std::string_view::npos && (out != in || !error.empty())) {
    fail("text without ${ was changed", in);
  }
  return 0;
}
