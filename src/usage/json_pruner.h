#pragma once
// JsonPruner: finds the JSON documents ("units") in a byte stream fed in any split, and copies
// each one minified and pruned to a bounded size, so usage can be read from a response of any
// size without holding the response.
//
//   Mode::Sequence       every top-level object or array is a unit: one JSON body, or NDJSON
//                        (one object per line), or concatenated documents.
//   Mode::ArrayElements  a top-level array is the stream itself and each of its elements that
//                        is an object or array is a unit: Gemini streamGenerateContent without
//                        alt=sse ("[{...},\r\n{...}]"). A top-level object (a bare error body)
//                        is a unit as in Sequence mode.
//
// Pruning keeps the structure valid JSON and the small values intact: inside a unit, any
// string, object or array whose copy grows beyond maxValueBytes is replaced by "", {} or []
// (the unit's own root is never replaced). Usage objects are a few hundred bytes; what gets
// pruned is content: long texts, base64 images, embedding vectors. A unit deeper than maxDepth
// or still larger than maxUnitBytes after pruning is dropped whole (unitsDropped()).
//
// The scanner tracks only strings, escapes and bracket depth; it does not validate. A unit is
// "complete" when its brackets balance, and may still be invalid JSON: the caller's parser
// decides. Whitespace outside strings is removed. Scalars at the top level are skipped.
//
// Not thread-safe. Memory: one unit (<= maxUnitBytes) plus a depth stack.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tg::usage {

class JsonPruner {
 public:
  enum class Mode { Sequence, ArrayElements };
  struct Limits {
    size_t maxValueBytes = 64u << 10;
    size_t maxUnitBytes = 8u << 20;
    size_t maxDepth = 256;
  };
  static constexpr size_t kPadding = 64;  // >= SIMDJSON_PADDING, readable after unit()

  explicit JsonPruner(Mode mode) : JsonPruner(mode, Limits{}) {}
  JsonPruner(Mode mode, Limits limits);

  // Consumes a prefix of `in`: all of it, or up to and including the byte that completes a
  // unit (then unitReady() is true and unit() is valid until the next feed()).
  size_t feed(std::string_view in);
  bool unitReady() const { return ready_; }
  std::string_view unit() const { return ready_ ? std::string_view(out_) : std::string_view(); }

  // True while a unit has started and not completed (at end of stream: it was cut).
  bool insideUnit() const { return inUnit_; }
  uint64_t unitsCompleted() const { return completed_; }
  uint64_t unitsDropped() const { return dropped_; }

 private:
  struct Frame {
    size_t start;  // offset of the opening bracket in out_
    char open;
  };

  bool copying() const { return inUnit_ && !invalid_ && skipDepth_ == 0; }
  void open(char c);
  bool close(char c);  // true when a unit completed
  void checkContainer();
  void invalidate();

  Mode mode_;
  Limits limits_;
  size_t depth_ = 0;  // open brackets, including the stream array and anything outside units
  bool streamArray_ = false;
  bool inUnit_ = false;
  size_t unitDepth_ = 0;  // depth_ inside the unit's root
  bool invalid_ = false;
  size_t skipDepth_ = 0;  // non-zero: skipping the rest of a container pruned at this depth
  bool inString_ = false;
  bool escape_ = false;
  bool copyString_ = false;
  bool stringPruned_ = false;
  size_t stringStart_ = 0;
  std::vector<Frame> stack_;
  std::string out_;
  bool ready_ = false;
  uint64_t completed_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace tg::usage
