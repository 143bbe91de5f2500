// Fuzz target: usage::SseFramer. The first byte seeds how the rest is split into feeds. Checks,
// besides crashes and sanitizer reports: events, blocks and the pending event do not depend
// on the split nor on zero-copy mode, the blocks plus the unfinished tail give back the input
// byte for byte, and no event is larger than the cap.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "usage/sse.h"

namespace {

constexpr size_t kMaxEvent = 256;

struct Framed {
  std::vector<std::string> events;  // type '\0' data '\0' id
  std::vector<std::string> blocks;
  std::string tail;
  std::optional<std::string> pending;
  bool operator==(const Framed&) const = default;
};

void fail(const char* what) {
  std::fprintf(stderr, "fuzz_usage_sse: %s\n", what);
  std::abort();
}

std::string flatten(const tg::usage::SseEvent& e) {
  if (e.data.size() > kMaxEvent) {
    fail("event larger than the cap");
  }
  return std::string(e.type) + '\0' + std::string(e.data) + '\0' + std::string(e.lastEventId) +
         (e.truncated ? "T" : "");
}

Framed frame(std::string_view in, uint8_t seed, bool zeroCopy = false) {
  tg::usage::SseFramer f(kMaxEvent);
  f.setZeroCopy(zeroCopy);
  Framed r;
  std::string block;
  uint32_t state = seed * 2654435761u + 1;
  while (!in.empty()) {
    size_t piece = in.size();
    if (seed != 0) {
      state = state * 1103515245u + 12345u;
      piece = std::min<size_t>(in.size(), 1 + (state >> 16) % 17);
    }
    std::string_view chunk = in.substr(0, piece);
    in.remove_prefix(piece);
    while (!chunk.empty()) {
      auto step = f.advance(chunk);
      if (step.consumed == 0 || step.consumed > chunk.size()) {
        fail("advance consumed nothing or too much");
      }
      std::string_view part = chunk.substr(0, step.consumed);
      chunk.remove_prefix(step.consumed);
      if (step.dispatched) {
        r.events.push_back(flatten(f.event()));
      }
      switch (step.kind) {
        case tg::usage::SseFramer::StepKind::NeedMore:
          block += part;
          break;
        case tg::usage::SseFramer::StepKind::BlockEnd:
          r.blocks.push_back(block + std::string(part));
          block.clear();
          break;
        case tg::usage::SseFramer::StepKind::LfAfterBlock:
          if (r.blocks.empty() || part != "\n") {
            fail("LF after no block");
          }
          r.blocks.back() += part;
          break;
      }
    }
  }
  r.tail = block;
  if (auto p = f.pendingAtEof()) {
    r.pending = flatten(*p);
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  Framed whole = frame(in, 0);
  Framed split = frame(in, data[0] == 0 ? 1 : data[0]);
  if (!(whole == split)) {
    fail("result depends on the split");
  }
  if (!(frame(in, data[0], true) == whole)) {
    fail("zero-copy mode differs");
  }
  std::string joined;
  for (const auto& b : whole.blocks) {
    joined += b;
  }
  if (joined + whole.tail != in) {
    fail("blocks do not reassemble the input");
  }
  return 0;
}
