#pragma once
// UsageExtractor: the per-response state behind ResponseTracker. It parses one JSON document
// at a time (an SSE event's data, an NDJSON line, a Gemini array element, a pruned body) with
// simdjson's DOM API and folds what it finds into RawUsage, the collected text and the error
// flag. Internal to the usage module (and its tests); see response_tracker.h for the rules.
//
// Owns a simdjson parser whose buffers grow to the largest document seen and are freed with
// the extractor. Not thread-safe.

#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "usage/response_tracker.h"

namespace tg::usage {

static_assert(SseFramer::kPadding >= simdjson::SIMDJSON_PADDING);
static_assert(JsonPruner::kPadding >= simdjson::SIMDJSON_PADDING);

// Provider figures as read, before normalisation; each is overwritten by a later observation
// that carries it (cumulative semantics), never summed.
struct RawUsage {
  std::optional<uint64_t> input;          // prompt_tokens / input_tokens / promptTokenCount /
                                          // prompt_eval_count
  std::optional<uint64_t> cached;         // ..._details.cached_tokens / cachedContentTokenCount
  std::optional<uint64_t> cacheWrite;     // ..._details.cache_write_tokens (subset of input)
  std::optional<uint64_t> output;         // completion_tokens / output_tokens /
                                          // candidatesTokenCount / eval_count
  std::optional<uint64_t> reasoning;      // ..._details.reasoning_tokens (subset of output)
  std::optional<uint64_t> total;          // total_tokens / totalTokenCount
  std::optional<uint64_t> cacheCreation;  // Anthropic, added to input
  std::optional<uint64_t> cacheRead;      // Anthropic, added to input
  std::optional<uint64_t> toolUsePrompt;  // Gemini toolUsePromptTokenCount, added to input
  std::optional<uint64_t> thoughts;       // Gemini thoughtsTokenCount, added to output

  bool hasInput() const { return input || cacheCreation || cacheRead || toolUsePrompt; }
};

// RawUsage -> Usage by wire-formats.md §1.7 (reported = true, estimated = false).
Usage normalizeUsage(const RawUsage& raw);

// A JSON number (or a string of digits) as a token count, clamped to [0, kMaxTokenCount].
std::optional<uint64_t> readCount(simdjson::dom::element value);

class UsageExtractor {
 public:
  static constexpr size_t kMaxText = 4u << 20;  // collected text kept for the estimate
  static constexpr size_t kMaxDocument = 32u << 20;

  explicit UsageExtractor(bool collectText) : collectText_(collectText) {}

  struct Facts {
    bool parsed = false;          // a JSON object
    bool usageNoChoices = false;  // non-null "usage" object and no (or empty) "choices"
    bool usageNull = false;       // a top-level "usage": null member
  };
  // `json` must be followed by SIMDJSON_PADDING readable bytes. `sseType` is the SSE event
  // name ("" outside SSE; "message" when unnamed), used when the JSON has no "type".
  // `wholeBody`: the document is an entire response, so any usage in it is final.
  Facts onDocument(std::string_view json, std::string_view sseType, bool wholeBody);

  // Lazy text (SSE events): when a byte scan shows that `json` can do nothing but add answer
  // text (no "usage", "error", "failed", "eval_count", "timings" nor \u escape anywhere in
  // it, and an SSE type that is neither error nor response.failed), keeps it raw, to be parsed
  // only if the estimate is needed (text(), flushDeferred()); returns true. Kept documents are
  // parsed in order before any later document adds text, and dropped unparsed as soon as
  // final usage arrives. At most kMaxDeferred raw bytes are kept (then parsed). No padding
  // needed. False: the caller must call onDocument. When true and `nullUsage` is given, it is
  // set to the offset in `json` of the opening quote of the last `"usage": null` member
  // found by the scan (any depth; npos when there is none).
  bool deferIfTextOnly(std::string_view json, std::string_view sseType,
                       size_t* nullUsage = nullptr);
  // Parses the kept documents for their text.
  void flushDeferred();
  static constexpr size_t kMaxDeferred = 4u << 20;
  static constexpr size_t kDeferredReserve = 8u << 10;

  // Adds relayed text to the estimate buffer (capped; bytes beyond are only counted). Once a
  // final usage figure has been seen the text is freed and no more is kept.
  void addText(std::string_view text);
  void markError() { sawError_ = true; }

  const RawUsage& raw() const { return raw_; }
  bool anyUsage() const { return anyUsage_; }
  bool finalUsage() const { return finalUsage_; }
  bool anyTimings() const { return timingsSeen_; }
  // llama.cpp timings as usage: input = prompt_n + cache_n, cached = cache_n, output = predicted_n.
  Usage timingsUsage() const;
  bool sawError() const { return sawError_; }
  // Call flushDeferred() first for the text of deferred documents.
  std::string_view text() const { return text_; }
  uint64_t textOverflowBytes() const { return textOverflow_; }
  uint64_t documents() const { return documents_; }  // parsed (deferred ones once parsed)

 private:
  bool observeUsage(simdjson::dom::object usage);
  bool observeGemini(simdjson::dom::object meta);
  void collectText(simdjson::dom::object root, std::string_view type);
  void addJsonText(simdjson::dom::element value);
  static bool textOnly(std::string_view json, size_t& nullUsage);

  // Documents are parsed with one simdjson parser per thread (extract.cc), not one per
  // extractor: a parser's buffers cost an allocation and page faults to set up, far more
  // than parsing a small event. Each parse is used up before onDocument() returns.
  bool collectText_;
  RawUsage raw_;
  bool anyUsage_ = false;
  bool finalUsage_ = false;
  bool timingsSeen_ = false;
  uint64_t promptN_ = 0;
  uint64_t cacheN_ = 0;
  uint64_t predictedN_ = 0;
  bool sawError_ = false;
  std::string text_;
  uint64_t textOverflow_ = 0;
  uint64_t documents_ = 0;
  // Deferred documents, each as: uint32 data size, uint8 type size, type, data.
  std::string deferred_;
  std::unique_ptr<simdjson::dom::parser> deferredParser_;  // created on first flush
};

}  // namespace tg::usage
