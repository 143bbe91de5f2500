// Fuzz target: usage::StreamCut. Byte 0 picks the dialect (bits 0-2), clientAskedUsage
// (bit 3) and a small block cap (bit 4, else 256 bytes); byte 1 seeds the split of the rest
// (the body). Checks, besides crashes and sanitizer reports:
//   * the blocks, their counts and ending() do not depend on the split;
//   * the blocks taken are a prefix of the body, the rest is rest();
//   * a block is at most the cap (+1: the LF after a final CR); the relayed tokens are at most
//     one per byte relayed (the default counter);
//   * ending() is SSE events whose data is `[DONE]` or a JSON object, each ended by a blank
//     line, empty only for an unsupported dialect or a stream that already ended.

#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "usage/sse.h"
#include "usage/stream_cut.h"

namespace {

using tg::usage::Dialect;
using tg::usage::StreamCut;

void fail(const char* what) {
  std::fprintf(stderr, "fuzz_stream_cut: %s\n", what);
  std::abort();
}

constexpr Dialect kDialects[] = {
    Dialect::OpenAIChat, Dialect::OpenAICompletions, Dialect::OpenAIResponses,
    Dialect::Anthropic,  Dialect::GeminiStreamSse,   Dialect::OpenAIChat,
    Dialect::Anthropic,  Dialect::OllamaChat,
};

struct Result {
  std::vector<std::string> blocks;  // bytes '\0' tokens
  std::string joined;
  std::string rest;
  std::string ending;
  bool operator==(const Result&) const = default;
};

Result cut(const tg::usage::RequestInfo& req, size_t cap, std::string_view body, uint8_t seed) {
  StreamCut c(req, {}, 1767225600, cap);
  Result r;
  auto drain = [&] {
    while (auto b = c.next()) {
      c.take();
      if (b->bytes.size() > cap + 1 || b->bytes.empty()) {
        fail("block size out of range");
      }
      r.blocks.push_back(std::string(b->bytes) + '\0' + std::to_string(b->outputTokens));
      r.joined += b->bytes;
    }
  };
  uint32_t state = seed * 2654435761u + 3;
  while (!body.empty()) {
    size_t piece = body.size();
    if (seed != 0) {
      state = state * 1103515245u + 12345u;
      piece = std::min<size_t>(body.size(), 1 + (state >> 16) % 29);
    }
    c.feed(body.substr(0, piece));
    body.remove_prefix(piece);
    drain();
  }
  c.finish();
  drain();
  if (c.relayedOutput() > r.joined.size()) {
    fail("more tokens than bytes relayed");
  }
  r.rest = c.rest();
  r.ending = c.ending(7, c.relayedOutput());
  if (r.ending.empty() && StreamCut::supports(req.dialect) && !c.streamEnded()) {
    fail("empty ending for a stream that did not end");
  }
  return r;
}

void checkEnding(std::string_view s) {
  tg::usage::SseFramer f;
  simdjson::dom::parser parser;
  while (!s.empty()) {
    auto step = f.advance(s);
    s.remove_prefix(step.consumed);
    if (step.kind == tg::usage::SseFramer::StepKind::NeedMore) {
      fail("ending does not end with a blank line");
    }
    if (!step.dispatched) {
      continue;
    }
    const std::string data(f.event().data);
    simdjson::dom::element e;
    if (data != "[DONE]" && (parser.parse(data).get(e) != simdjson::SUCCESS || !e.is_object())) {
      fail("ending event is not a JSON object");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) {
    return 0;
  }
  const uint8_t control = data[0];
  tg::usage::RequestInfo req;
  req.dialect = kDialects[control & 7];
  req.clientAskedUsage = (control & 8) != 0;
  req.model = "m\"\\\n";
  const size_t cap = (control & 16) != 0 ? 16 : 256;
  std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);

  const Result whole = cut(req, cap, body, 0);
  const Result split = cut(req, cap, body, data[1] == 0 ? 1 : data[1]);
  if (!(whole == split)) {
    fail("result depends on the split");
  }
  if (whole.joined + whole.rest != body) {
    fail("blocks are not the body's prefix");
  }
  checkEnding(whole.ending);
  return 0;
}
