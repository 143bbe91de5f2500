// Fuzz target: usage::ResponseTracker. Byte 0 picks the dialect (bits 0-3), the content type
// (bits 4-5: SSE, JSON, NDJSON, none), stream (bit 6 clear) and stripping (bit 7); byte 1 seeds
// the split of the rest (the body), its bit 7 says the response completed. Checks:
//   * the forwarded bytes and the usage do not depend on the split;
//   * without stripping the forwarded bytes are the input; with it, a subsequence of it;
//   * every figure is <= kMaxTokenCount, total >= input + output (clamped);
//   * an estimate never exceeds what was fed: output <= body bytes + 1, input = prompt estimate;
//   * usage() is stable across calls.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "usage/usage.h"

namespace {

using tg::usage::Dialect;
using tg::usage::kMaxTokenCount;
using tg::usage::ResponseTracker;
using tg::usage::Usage;

void fail(const char* what) {
  std::fprintf(stderr, "fuzz_usage_tracker: %s\n", what);
  std::abort();
}

constexpr Dialect kDialects[] = {
    Dialect::Unknown,           Dialect::OpenAIChat,       Dialect::OpenAICompletions,
    Dialect::OpenAIResponses,   Dialect::OpenAIEmbeddings, Dialect::Anthropic,
    Dialect::GeminiGenerate,    Dialect::GeminiStream,     Dialect::GeminiStreamSse,
    Dialect::OllamaChat,        Dialect::OllamaGenerate,   Dialect::OpenAIChat,
    Dialect::OpenAIChat,        Dialect::Anthropic,        Dialect::GeminiStream,
    Dialect::OpenAICompletions,
};
constexpr const char* kTypes[] = {"text/event-stream", "application/json", "application/x-ndjson",
                                  ""};

struct Result {
  std::string out;
  Usage usage;
  bool error = false;
};

Result track(const tg::usage::RequestInfo& req, std::string_view type, bool strip, bool complete,
             std::string_view body, uint8_t seed) {
  ResponseTracker t(req, 200, type, strip, {});
  Result r;
  uint32_t state = seed * 2654435761u + 7;
  while (!body.empty()) {
    size_t piece = body.size();
    if (seed != 0) {
      state = state * 1103515245u + 12345u;
      piece = std::min<size_t>(body.size(), 1 + (state >> 16) % 23);
    }
    t.feed(body.substr(0, piece), r.out);
    body.remove_prefix(piece);
  }
  t.finish(complete, r.out);
  r.usage = t.usage();
  if (!(t.usage() == r.usage)) {
    fail("usage() is not stable");
  }
  r.error = t.sawError();
  return r;
}

bool isSubsequence(std::string_view small, std::string_view big) {
  size_t j = 0;
  for (char c : big) {
    if (j < small.size() && small[j] == c) {
      ++j;
    }
  }
  return j == small.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) {
    return 0;
  }
  uint8_t control = data[0];
  tg::usage::RequestInfo req;
  req.dialect = kDialects[control & 15];
  req.stream = (control & 64) == 0;
  req.promptEstimate = control;
  std::string_view type = kTypes[(control >> 4) & 3];
  bool strip = (control & 128) != 0;
  bool complete = (data[1] & 128) != 0;
  std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);

  Result whole = track(req, type, strip, complete, body, 0);
  Result split = track(req, type, strip, complete, body, data[1] == 0 ? 1 : data[1]);
  if (whole.out != split.out || !(whole.usage == split.usage) || whole.error != split.error) {
    fail("result depends on the split");
  }
  if (!strip && whole.out != body) {
    fail("forwarded bytes differ from the input");
  }
  if (strip && !isSubsequence(whole.out, body)) {
    fail("stripping added bytes");
  }
  const Usage& u = whole.usage;
  for (uint64_t v : {u.inputTokens, u.cachedInputTokens, u.cacheWriteInputTokens, u.outputTokens,
                     u.reasoningTokens, u.totalTokens}) {
    if (v > kMaxTokenCount) {
      fail("figure beyond kMaxTokenCount");
    }
  }
  if (u.totalTokens < std::min(u.inputTokens + u.outputTokens, kMaxTokenCount)) {
    fail("total below input + output");
  }
  if (!u.reported) {
    if (u.estimated && (u.inputTokens != req.promptEstimate || u.outputTokens > body.size() + 1)) {
      fail("estimate beyond the bytes fed");
    }
    if (!u.estimated && !(u == Usage{})) {
      fail("neither reported nor estimated but not zero");
    }
  }
  return 0;
}
