// Fuzz target: usage::JsonPruner with small limits, so pruning happens often. Byte 0 picks the
// mode and seeds the split of the rest. Checks: units do not depend on the split, none exceeds
// maxUnitBytes, and when the whole input is one valid JSON object or array the pruner returns
// exactly one unit that is valid JSON too (pruning keeps documents valid) unless it was
// dropped for its depth or size.

#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "usage/json_pruner.h"

namespace {

using tg::usage::JsonPruner;

void fail(const char* what) {
  std::fprintf(stderr, "fuzz_usage_pruner: %s\n", what);
  std::abort();
}

struct Units {
  std::vector<std::string> units;
  uint64_t dropped = 0;
};

Units prune(JsonPruner::Mode mode, JsonPruner::Limits limits, std::string_view in, uint8_t seed) {
  JsonPruner p(mode, limits);
  Units r;
  uint32_t state = seed * 2654435761u + 3;
  while (!in.empty()) {
    size_t piece = in.size();
    if (seed != 0) {
      state = state * 1103515245u + 12345u;
      piece = std::min<size_t>(in.size(), 1 + (state >> 16) % 13);
    }
    std::string_view chunk = in.substr(0, piece);
    in.remove_prefix(piece);
    while (!chunk.empty()) {
      size_t n = p.feed(chunk);
      if (n == 0 || n > chunk.size()) {
        fail("feed consumed nothing or too much");
      }
      chunk.remove_prefix(n);
      if (p.unitReady()) {
        if (p.unit().size() > limits.maxUnitBytes) {
          fail("unit beyond maxUnitBytes");
        }
        r.units.emplace_back(p.unit());
      }
    }
  }
  r.dropped = p.unitsDropped();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  JsonPruner::Mode mode =
      (data[0] & 1) != 0 ? JsonPruner::Mode::ArrayElements : JsonPruner::Mode::Sequence;
  JsonPruner::Limits limits;
  limits.maxValueBytes = 8 + (data[0] >> 2) % 64;
  limits.maxUnitBytes = 256;
  limits.maxDepth = 16;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  Units whole = prune(mode, limits, in, 0);
  Units split = prune(mode, limits, in, data[0] | 1);
  if (whole.units != split.units || whole.dropped != split.dropped) {
    fail("units depend on the split");
  }
  if (mode == JsonPruner::Mode::Sequence) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(std::string(in)).get(root) == simdjson::SUCCESS &&
        (root.is_object() || root.is_array())) {
      if (whole.units.size() + whole.dropped != 1) {
        fail("a valid document is not exactly one unit");
      }
      simdjson::dom::element pruned;
      if (!whole.units.empty() && parser.parse(whole.units[0]).get(pruned) != simdjson::SUCCESS) {
        fail("pruning made a valid document invalid");
      }
    }
  }
  return 0;
}
