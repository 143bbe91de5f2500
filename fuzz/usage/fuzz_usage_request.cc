// Fuzz target: usage::inspectRequest and usage::injectIncludeUsage. Byte 0 picks the method,
// path and query; the rest is the request body. Checks: an LLM path either fails with a
// message or returns info; estimates stay <= kMaxTokenCount; injectIncludeUsage either leaves
// the body untouched (false) or returns a JSON object with stream_options.include_usage true
// whose inspection still succeeds and now reports clientAskedUsage; clampMaxOutputTokens (to
// a cap taken from the input) either leaves the body untouched or returns valid JSON whose
// inspected output cap is at most the cap, and clamping again changes nothing.

#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "usage/usage.h"

namespace {

void fail(const char* what) {
  std::fprintf(stderr, "fuzz_usage_request: %s\n", what);
  std::abort();
}

struct Target {
  const char* method;
  const char* path;
  const char* query;
};
constexpr Target kTargets[] = {
    {"POST", "/v1/chat/completions", ""},
    {"POST", "/v1/completions", ""},
    {"POST", "/v1/responses", ""},
    {"POST", "/v1/embeddings", ""},
    {"POST", "/v1/messages", ""},
    {"POST", "/v1beta/models/gemini-2.5-flash:generateContent", ""},
    {"POST", "/v1beta/models/gemini%2D2.5:streamGenerateContent", "alt=sse"},
    {"POST", "/v1beta/models/x:streamGenerateContent", ""},
    {"POST", "/api/chat", ""},
    {"POST", "/api/generate", ""},
    {"GET", "/v1/models", ""},
    {"POST", "/v1/files", ""},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const Target& t = kTargets[data[0] % std::size(kTargets)];
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto r = tg::usage::inspectRequest(t.method, t.path, t.query, body, {});
  if (r.error.empty() != r.info.has_value()) {
    fail("error and info disagree");
  }
  if (r.info && r.info->promptEstimate > tg::usage::kMaxTokenCount) {
    fail("estimate beyond kMaxTokenCount");
  }
  if (r.info && r.info->maxOutputTokens && *r.info->maxOutputTokens > tg::usage::kMaxTokenCount) {
    fail("output cap beyond kMaxTokenCount");
  }

  std::string edited(body);
  bool changed = tg::usage::injectIncludeUsage(edited);
  if (!changed && edited != body) {
    fail("body changed but false returned");
  }
  if (changed) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    bool flag = false;
    if (parser.parse(edited).get(root) != simdjson::SUCCESS ||
        root["stream_options"]["include_usage"].get_bool().get(flag) != simdjson::SUCCESS ||
        !flag) {
      fail("injected body is not JSON with include_usage true");
    }
    auto again = tg::usage::inspectRequest("POST", "/v1/chat/completions", "", edited, {});
    if (!again.info || !again.info->clientAskedUsage) {
      fail("injected body does not ask for usage");
    }
    std::string twice = edited;
    if (tg::usage::injectIncludeUsage(twice) || twice != edited) {
      fail("injection is not idempotent");
    }
  }
  if (r.info && r.info->dialect != tg::usage::Dialect::Unknown) {
    const uint64_t cap = 1 + data[0] * 37u;
    std::string clamped(body);
    const bool lowered = tg::usage::clampMaxOutputTokens(clamped, r.info->dialect, cap);
    if (!lowered && clamped != body) {
      fail("clamp changed the body but returned false");
    }
    if (lowered) {
      auto after = tg::usage::inspectRequest(t.method, t.path, t.query, clamped, {});
      if (!after.info) {
        fail("clamped body no longer inspects");
      }
      if (after.info->maxOutputTokens && *after.info->maxOutputTokens > cap) {
        fail("clamped cap is above the cap");
      }
      std::string again = clamped;
      if (tg::usage::clampMaxOutputTokens(again, r.info->dialect, cap) || again != clamped) {
        fail("clamping is not idempotent");
      }
    }
  }
  return 0;
}
