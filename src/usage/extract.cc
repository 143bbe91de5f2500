#include "usage/extract.h"

#include <algorithm>
#include <array>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TG_USAGE_AVX2 1
#endif

#include "usage/json_util.h"

namespace tg::usage {
namespace {

using json::arrayField;
using json::field;
using json::objectField;
using json::stringField;
using simdjson::SUCCESS;
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

uint64_t clampCount(uint64_t v) { return std::min(v, kMaxTokenCount); }

// True when d[from...] is `"` OWS `:` OWS `null`: the end of a `"usage": null` member, which
// carries nothing (OpenAI-compatible servers add it to every chunk once include_usage is set).
inline bool nullMemberFollows(const char* d, size_t n, size_t from) {
  auto ws = [&](size_t& k) {
    while (k < n && (d[k] == ' ' || d[k] == '\t' || d[k] == '\r' || d[k] == '\n')) {
      ++k;
    }
  };
  size_t k = from;
  if (k >= n || d[k] != '"') {
    return false;
  }
  ++k;
  ws(k);
  if (k >= n || d[k] != ':') {
    return false;
  }
  ++k;
  ws(k);
  return k + 4 <= n && std::memcmp(d + k, "null", 4) == 0;
}

// One of the words that make a document more than text, tested at an anchor: the first byte
// of the two-byte sequence that the SIMD scan found ("ag" of usage, "gs" of timings, "rr" of
// error, "l_" of eval_count, "fa" of failed, "\\u" of an escape). Rare pairs, so that the
// plain JSON around text (ids, "finish_reason", "system_fingerprint", ...) costs no test.
// `"usage": null` is no usage: such an event still only adds text; `nullUsage` then gets the
// offset of its opening quote (the last one wins).
inline bool keywordAt(const char* d, size_t n, size_t i, size_t& nullUsage) {
  auto at = [d, n, i](size_t back, std::string_view w) {
    return i >= back && i - back + w.size() <= n &&
           std::memcmp(d + (i - back), w.data(), w.size()) == 0;
  };
  switch (d[i]) {
    case 'a':
      if (!at(2, "usage")) {
        return false;
      }
      if (at(3, "\"usage") && nullMemberFollows(d, n, i + 3)) {
        nullUsage = i - 3;
        return false;
      }
      return true;
    case 'g':
      return at(5, "timings");
    case 'r':
      return at(1, "error");
    case 'l':
      return at(3, "eval_count");
    case 'f':
      return at(0, "failed");
    case '\\':
      return true;  // "\\u" (the pair matched)
    default:
      return false;
  }
}

// The pairs of bytes keywordAt() is anchored on, first byte -> second byte.
inline bool anchorPair(char a, char b) {
  switch (a) {
    case 'a':
      return b == 'g';
    case 'g':
      return b == 's';
    case 'r':
      return b == 'r';
    case 'l':
      return b == '_';
    case 'f':
      return b == 'a';
    case '\\':
      return b == 'u';
    default:
      return false;
  }
}

// Tests the anchors of one SIMD block (bit k of `mask`: an anchor pair starts at base + k).
inline bool blockHasWord(const char* d, size_t n, size_t base, uint32_t mask, size_t& nullUsage) {
  for (; mask != 0; mask &= mask - 1) {
    if (keywordAt(d, n, base + static_cast<size_t>(__builtin_ctz(mask)), nullUsage)) {
      return true;
    }
  }
  return false;
}

#if defined(TG_USAGE_AVX2)
// The scan in 32-byte blocks with AVX2 (when the CPU has it), for n >= 33: `hit` is set when
// a word was found. Returns n (all scanned).
// Each byte is classified by two nibble lookups (vpshufb), as simdjson classifies structural
// characters: bit k of first(c) is set when c is the first byte of anchor pair k, bit k of
// second(c) when it is its second byte; a pair starts at i when first(d[i]) & second(d[i+1])
// is not 0. Pairs: 0 "ag", 1 "gs", 2 "rr", 3 "l_", 4 "fa", 5 "\\u"; every (high nibble, low
// nibble) combination of a table selects exactly its own pairs.
__attribute__((target("avx2"))) inline __m256i classify(__m256i v, __m256i lo, __m256i hi) {
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  __m256i l = _mm256_shuffle_epi8(lo, _mm256_and_si256(v, nibble));
  __m256i h = _mm256_shuffle_epi8(hi, _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble));
  return _mm256_and_si256(l, h);
}

__attribute__((target("avx2"))) size_t scanAvx2(const char* d, size_t n, size_t& nullUsage,
                                                bool& hit) {
  // Low-nibble and high-nibble tables (the same 16 bytes in both lanes).
  // first:  a=0x61 g=0x67 r=0x72 l=0x6c f=0x66 \\=0x5c
  const __m256i firstLo = _mm256_setr_epi8(0, 1, 4, 0, 0, 0, 16, 2, 0, 0, 0, 0, 8 | 32, 0, 0, 0, 0,
                                           1, 4, 0, 0, 0, 16, 2, 0, 0, 0, 0, 8 | 32, 0, 0, 0);
  const __m256i firstHi =
      _mm256_setr_epi8(0, 0, 0, 0, 0, 32, 1 | 2 | 8 | 16, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                       32, 1 | 2 | 8 | 16, 4, 0, 0, 0, 0, 0, 0, 0, 0);
  // second: g=0x67 s=0x73 r=0x72 _=0x5f a=0x61 u=0x75
  const __m256i secondLo = _mm256_setr_epi8(0, 16, 4, 2, 0, 32, 0, 1, 0, 0, 0, 0, 0, 0, 0, 8, 0, 16,
                                            4, 2, 0, 32, 0, 1, 0, 0, 0, 0, 0, 0, 0, 8);
  const __m256i secondHi =
      _mm256_setr_epi8(0, 0, 0, 0, 0, 8, 1 | 16, 2 | 4 | 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                       8, 1 | 16, 2 | 4 | 32, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i zero = _mm256_setzero_si256();
  // n >= 33. The last block overlaps the one before it (keywordAt() may run twice on an
  // anchor: same answer), so no byte-wise tail is left.
  for (size_t i = 0;; i += 32) {
    if (i + 33 > n) {
      i = n - 33;
    }
    __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(d + i));
    __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(d + i + 1));
    __m256i both =
        _mm256_and_si256(classify(v0, firstLo, firstHi), classify(v1, secondLo, secondHi));
    auto mask = ~static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(both, zero)));
    if (blockHasWord(d, n, i, mask, nullUsage)) {
      hit = true;
      return n;
    }
    if (i + 33 >= n) {
      return n;  // every pair, the last one starting at n - 2, was tested
    }
  }
}

bool haveAvx2() {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
}
#endif

}  // namespace

std::optional<uint64_t> readCount(element value) {
  switch (value.type()) {
    case element_type::UINT64: {
      uint64_t v = 0;
      if (value.get_uint64().get(v) != SUCCESS) {
        return std::nullopt;
      }
      return clampCount(v);
    }
    case element_type::INT64: {
      int64_t v = 0;
      if (value.get_int64().get(v) != SUCCESS) {
        return std::nullopt;
      }
      return v < 0 ? 0 : clampCount(static_cast<uint64_t>(v));
    }
    case element_type::DOUBLE: {
      double d = 0;
      if (value.get_double().get(d) != SUCCESS) {
        return std::nullopt;
      }
      if (!(d > 0)) {
        return 0;  // negative, zero or NaN
      }
      if (d >= static_cast<double>(kMaxTokenCount)) {
        return kMaxTokenCount;
      }
      return static_cast<uint64_t>(d);
    }
    case element_type::STRING: {  // proto-JSON encoders may quote 64-bit integers
      std::string_view s;
      if (value.get_string().get(s) != SUCCESS || s.empty() || s.size() > 20) {
        return std::nullopt;
      }
      uint64_t v = 0;
      for (char c : s) {
        if (c < '0' || c > '9') {
          return std::nullopt;
        }
        v = std::min(v * 10 + static_cast<uint64_t>(c - '0'), kMaxTokenCount);
      }
      return v;
    }
    default:
      return std::nullopt;
  }
}

Usage normalizeUsage(const RawUsage& raw) {
  auto v = [](const std::optional<uint64_t>& x) { return x.value_or(0); };
  Usage u;
  u.reported = true;
  u.inputTokens =
      clampCount(v(raw.input) + v(raw.cacheCreation) + v(raw.cacheRead) + v(raw.toolUsePrompt));
  u.cachedInputTokens = clampCount(raw.cacheRead ? *raw.cacheRead : v(raw.cached));
  u.cacheWriteInputTokens = clampCount(raw.cacheCreation ? *raw.cacheCreation : v(raw.cacheWrite));
  u.outputTokens = clampCount(v(raw.output) + v(raw.thoughts));
  u.reasoningTokens = clampCount(raw.reasoning ? *raw.reasoning : v(raw.thoughts));
  u.totalTokens = clampCount(std::max(v(raw.total), u.inputTokens + u.outputTokens));
  return u;
}

Usage UsageExtractor::timingsUsage() const {
  Usage u;
  u.reported = true;
  u.inputTokens = clampCount(promptN_ + cacheN_);
  u.cachedInputTokens = cacheN_;
  u.outputTokens = predictedN_;
  u.totalTokens = clampCount(u.inputTokens + u.outputTokens);
  return u;
}

namespace {

// The root members onDocument() looks at, found in ONE pass over the root object instead of a
// linear at_key() per name (a provider document is asked for a dozen names). The first member
// of a name wins, as with at_key().
class RootMembers {
 public:
  enum Name : uint8_t {
    kType,
    kDone,
    kError,
    kUsage,
    kChoices,
    kMessage,
    kTimings,
    kResponse,
    kCandidates,
    kEvalCount,
    kUsageMetadata,
    kPromptEvalCount,
    kCount
  };

  explicit RootMembers(object obj) {
    for (const simdjson::dom::key_value_pair member : obj) {
      const int n = nameOf(member.key);
      if (n >= 0 && (have_ & (1u << n)) == 0) {
        values_[n] = member.value;
        have_ |= 1u << n;
      }
    }
  }
  bool get(Name n, element& out) const {
    if ((have_ & (1u << n)) == 0) {
      return false;
    }
    out = values_[n];
    return true;
  }
  bool obj(Name n, simdjson::dom::object& out) const {
    return (have_ & (1u << n)) != 0 && values_[n].get_object().get(out) == SUCCESS;
  }
  bool arr(Name n, simdjson::dom::array& out) const {
    return (have_ & (1u << n)) != 0 && values_[n].get_array().get(out) == SUCCESS;
  }
  bool str(Name n, std::string_view& out) const {
    return (have_ & (1u << n)) != 0 && values_[n].get_string().get(out) == SUCCESS;
  }
  bool boolean(Name n, bool& out) const {
    return (have_ & (1u << n)) != 0 && values_[n].get_bool().get(out) == SUCCESS;
  }

 private:
  static int nameOf(std::string_view k) {
    switch (k.size()) {
      case 4:
        return k == "type" ? kType : k == "done" ? kDone : -1;
      case 5:
        return k == "error" ? kError : k == "usage" ? kUsage : -1;
      case 7:
        return k == "choices"   ? kChoices
               : k == "message" ? kMessage
               : k == "timings" ? kTimings
                                : -1;
      case 8:
        return k == "response" ? kResponse : -1;
      case 10:
        return k == "candidates" ? kCandidates : k == "eval_count" ? kEvalCount : -1;
      case 13:
        return k == "usageMetadata" ? kUsageMetadata : -1;
      case 17:
        return k == "prompt_eval_count" ? kPromptEvalCount : -1;
      default:
        return -1;
    }
  }
  std::array<element, kCount> values_{};
  uint32_t have_ = 0;
};

}  // namespace

UsageExtractor::Facts UsageExtractor::onDocument(std::string_view json, std::string_view sseType,
                                                 bool wholeBody) {
  Facts facts;
  element root;
  thread_local simdjson::dom::parser parser(kMaxDocument);
  if (parser.parse(json.data(), json.size(), false).get(root) != SUCCESS) {
    return facts;
  }
  object obj;
  if (root.get_object().get(obj) != SUCCESS) {
    return facts;
  }
  facts.parsed = true;
  ++documents_;
  const RootMembers members(obj);

  std::string_view type;
  if (!members.str(RootMembers::kType, type) && sseType != "message") {
    type = sseType;
  }
  object inner;
  if (type == "error" || type == "response.failed" || members.obj(RootMembers::kError, inner)) {
    sawError_ = true;
  }

  // OpenAI-style usage at the root (also Anthropic message_delta and whole bodies).
  array choices;
  bool hasChoices = members.arr(RootMembers::kChoices, choices) && choices.size() > 0;
  object usage;
  element usageValue;
  bool hasUsage = members.get(RootMembers::kUsage, usageValue);
  if (hasUsage && usageValue.is_null()) {
    facts.usageNull = true;
  } else if (hasUsage && usageValue.get_object().get(usage) == SUCCESS) {
    facts.usageNoChoices = !hasChoices;
    bool finishReason = false;
    if (hasChoices) {
      for (element c : choices) {
        element reason;
        object choice;
        if (c.get_object().get(choice) == SUCCESS && field(choice, "finish_reason", reason) &&
            !reason.is_null()) {
          finishReason = true;
        }
      }
    }
    if (observeUsage(usage) && (!hasChoices || finishReason || wholeBody)) {
      finalUsage_ = true;
    }
  }
  // Anthropic message_start: the input counts (output is a placeholder until message_delta).
  if (members.obj(RootMembers::kMessage, inner) && objectField(inner, "usage", usage)) {
    observeUsage(usage);
  }
  // Responses API: terminal events carry the whole response.
  if (members.obj(RootMembers::kResponse, inner) && objectField(inner, "usage", usage)) {
    bool terminal = type == "response.completed" || type == "response.incomplete" ||
                    type == "response.failed" || wholeBody;
    if (observeUsage(usage) && terminal) {
      finalUsage_ = true;
    }
  }
  // Gemini: cumulative on every chunk; final on the chunk with a finishReason.
  if (members.obj(RootMembers::kUsageMetadata, usage)) {
    bool terminal = wholeBody;
    array candidates;
    if (members.arr(RootMembers::kCandidates, candidates)) {
      for (element c : candidates) {
        object cand;
        std::string_view reason;
        if (c.get_object().get(cand) == SUCCESS && stringField(cand, "finishReason", reason) &&
            !reason.empty()) {
          terminal = true;
        }
      }
    }
    if (observeGemini(usage) && terminal) {
      finalUsage_ = true;
    }
  }
  // Ollama native: counts at the root of the done:true object.
  element count;
  bool ollama = false;
  if (members.get(RootMembers::kPromptEvalCount, count)) {
    if (auto v = readCount(count)) {
      raw_.input = v;
      ollama = true;
    }
  }
  if (members.get(RootMembers::kEvalCount, count)) {
    if (auto v = readCount(count)) {
      raw_.output = v;
      ollama = true;
    }
  }
  if (ollama) {
    anyUsage_ = true;
    bool done = false;
    if ((members.boolean(RootMembers::kDone, done) && done) || wholeBody) {
      finalUsage_ = true;
    }
  }
  // llama.cpp: timings on the last chunk, with or without include_usage.
  object timings;
  if (members.obj(RootMembers::kTimings, timings)) {
    auto read = [&](std::string_view key, uint64_t& slot) {
      element e;
      if (field(timings, key, e)) {
        if (auto v = readCount(e)) {
          slot = *v;
          timingsSeen_ = true;
        }
      }
    };
    read("prompt_n", promptN_);
    read("cache_n", cacheN_);
    read("predicted_n", predictedN_);
  }
  if (finalUsage_) {
    // Final provider figures make the estimate moot: free the text, collect no more.
    if (text_.capacity() > 0) {
      text_ = std::string();
      textOverflow_ = 0;
    }
    if (deferred_.capacity() > 0) {
      deferred_ = std::string();
    }
  } else if (collectText_) {
    flushDeferred();  // their text comes first
    collectText(obj, type);
  }
  return facts;
}

// A byte scan for the words of keywordAt(): SSE2 compares of each 16-byte block and of the
// same block shifted by one byte find the anchor pairs at once.
bool UsageExtractor::textOnly(std::string_view json, size_t& nullUsage) {
  const char* d = json.data();
  const size_t n = json.size();
  nullUsage = std::string_view::npos;
  size_t i = 0;
#if defined(TG_USAGE_AVX2)
  if (n >= 33 && haveAvx2()) {
    bool hit = false;
    i = scanAvx2(d, n, nullUsage, hit);
    if (hit) {
      return false;
    }
  }
#endif
#if defined(__SSE2__)
  auto pair = [](__m128i v0, __m128i v1, char a, char b) {
    return _mm_and_si128(_mm_cmpeq_epi8(v0, _mm_set1_epi8(a)),
                         _mm_cmpeq_epi8(v1, _mm_set1_epi8(b)));
  };
  for (; n >= 17 && i < n; i += 16) {
    if (i + 17 > n) {
      i = n - 17;  // overlaps the block before: no byte-wise tail
    }
    __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i));
    __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i + 1));
    __m128i m =
        _mm_or_si128(_mm_or_si128(_mm_or_si128(pair(v0, v1, 'a', 'g'), pair(v0, v1, 'g', 's')),
                                  _mm_or_si128(pair(v0, v1, 'r', 'r'), pair(v0, v1, 'l', '_'))),
                     _mm_or_si128(pair(v0, v1, 'f', 'a'), pair(v0, v1, '\\', 'u')));
    if (blockHasWord(d, n, i, static_cast<uint32_t>(_mm_movemask_epi8(m)), nullUsage)) {
      return false;
    }
    if (i + 17 >= n) {
      i = n;
      break;
    }
  }
#endif
  for (; i + 1 < n; ++i) {
    if (anchorPair(d[i], d[i + 1]) && keywordAt(d, n, i, nullUsage)) {
      return false;
    }
  }
  return true;
}

bool UsageExtractor::deferIfTextOnly(std::string_view json, std::string_view sseType,
                                     size_t* nullUsage) {
  size_t nullAt = std::string_view::npos;
  if (!collectText_ || sseType.size() > 255 || sseType == "error" || sseType == "response.failed" ||
      !textOnly(json, nullAt)) {
    return false;
  }
  if (nullUsage != nullptr) {
    *nullUsage = nullAt;
  }
  if (finalUsage_) {
    return true;  // it could only add text, which final usage made moot
  }
  const size_t record = 5 + sseType.size() + json.size();
  if (deferred_.size() + record > kMaxDeferred) {
    flushDeferred();
    if (record > kMaxDeferred) {
      return false;
    }
  }
  if (deferred_.capacity() < kDeferredReserve) {
    deferred_.reserve(kDeferredReserve);  // a short stream never regrows it
  }
  uint32_t size = static_cast<uint32_t>(json.size());
  char header[5];
  std::memcpy(header, &size, 4);
  header[4] = static_cast<char>(static_cast<uint8_t>(sseType.size()));
  deferred_.append(header, 5);
  deferred_.append(sseType);
  deferred_.append(json);
  return true;
}

void UsageExtractor::flushDeferred() {
  if (deferred_.empty()) {
    return;
  }
  if (!deferredParser_) {
    deferredParser_ = std::make_unique<simdjson::dom::parser>(kMaxDocument);
  }
  std::string_view rest = deferred_;
  while (rest.size() >= 5) {
    uint32_t size = 0;
    std::memcpy(&size, rest.data(), 4);
    size_t typeSize = static_cast<uint8_t>(rest[4]);
    std::string_view sseType = rest.substr(5, typeSize);
    std::string_view json = rest.substr(5 + typeSize, size);
    rest.remove_prefix(5 + typeSize + size);
    element root;
    object obj;
    if (deferredParser_->parse(json.data(), json.size(), true).get(root) != SUCCESS ||
        root.get_object().get(obj) != SUCCESS) {
      continue;
    }
    ++documents_;
    std::string_view type;
    if (!stringField(obj, "type", type) && sseType != "message") {
      type = sseType;
    }
    collectText(obj, type);
  }
  deferred_.clear();
}

bool UsageExtractor::observeUsage(object u) {
  bool any = false;
  auto take = [&any](std::optional<uint64_t>& slot, object o, std::string_view key) {
    element e;
    if (field(o, key, e)) {
      if (auto v = readCount(e)) {
        slot = v;
        any = true;
      }
    }
  };
  take(raw_.input, u, "prompt_tokens");
  take(raw_.output, u, "completion_tokens");
  take(raw_.input, u, "input_tokens");
  take(raw_.output, u, "output_tokens");
  take(raw_.total, u, "total_tokens");
  take(raw_.cacheCreation, u, "cache_creation_input_tokens");
  take(raw_.cacheRead, u, "cache_read_input_tokens");
  take(raw_.cached, u, "prompt_cache_hit_tokens");  // DeepSeek: a subset of prompt_tokens
  object details;
  if (objectField(u, "prompt_tokens_details", details)) {
    take(raw_.cached, details, "cached_tokens");
    take(raw_.cacheWrite, details, "cache_write_tokens");
  }
  if (objectField(u, "input_tokens_details", details)) {
    take(raw_.cached, details, "cached_tokens");
    take(raw_.cacheWrite, details, "cache_write_tokens");
  }
  if (objectField(u, "completion_tokens_details", details)) {
    take(raw_.reasoning, details, "reasoning_tokens");
  }
  if (objectField(u, "output_tokens_details", details)) {
    take(raw_.reasoning, details, "reasoning_tokens");
  }
  if (any) {
    anyUsage_ = true;
  }
  return any;
}

bool UsageExtractor::observeGemini(object meta) {
  bool any = false;
  auto take = [&](std::optional<uint64_t>& slot, std::string_view key) {
    element e;
    if (field(meta, key, e)) {
      if (auto v = readCount(e)) {
        slot = v;
        any = true;
      }
    }
  };
  take(raw_.input, "promptTokenCount");
  take(raw_.output, "candidatesTokenCount");
  take(raw_.thoughts, "thoughtsTokenCount");
  take(raw_.toolUsePrompt, "toolUsePromptTokenCount");
  take(raw_.cached, "cachedContentTokenCount");
  take(raw_.total, "totalTokenCount");
  if (any) {
    anyUsage_ = true;
  }
  return any;
}

void UsageExtractor::addText(std::string_view text) {
  if (finalUsage_) {
    return;
  }
  size_t room = kMaxText > text_.size() ? kMaxText - text_.size() : 0;
  if (text.size() <= room) {
    text_.append(text);
  } else {
    text_.append(text.substr(0, room));
    textOverflow_ += text.size() - room;
  }
}

void UsageExtractor::addJsonText(element value) {
  if (!value.is_null()) {
    addText(simdjson::minify(value));
  }
}

// The text a client reads from one streamed document, per dialect (field names do not clash).
void UsageExtractor::collectText(object obj, std::string_view type) {
  std::string_view s;
  array list;
  object o;
  // OpenAI chat / completions chunks (also vLLM, llama.cpp, DeepSeek reasoning_content).
  if (arrayField(obj, "choices", list)) {
    for (element c : list) {
      object choice;
      if (c.get_object().get(choice) != SUCCESS) {
        continue;
      }
      object delta;
      if (objectField(choice, "delta", delta)) {
        for (std::string_view key : {"content", "reasoning_content", "reasoning", "refusal"}) {
          if (stringField(delta, key, s)) {
            addText(s);
          }
        }
        array calls;
        if (arrayField(delta, "tool_calls", calls)) {
          for (element call : calls) {
            object fn;
            object callObj;
            if (call.get_object().get(callObj) == SUCCESS && objectField(callObj, "function", fn)) {
              if (stringField(fn, "name", s)) {
                addText(s);
              }
              if (stringField(fn, "arguments", s)) {
                addText(s);
              }
            }
          }
        }
      }
      if (stringField(choice, "text", s)) {
        addText(s);
      }
    }
  }
  if (!type.empty()) {
    if (type == "content_block_delta") {  // Anthropic text, thinking, tool input
      if (objectField(obj, "delta", o)) {
        for (std::string_view key : {"text", "thinking", "partial_json"}) {
          if (stringField(o, key, s)) {
            addText(s);
          }
        }
      }
    } else if (type.ends_with(".delta") && stringField(obj, "delta", s)) {
      // Responses: output_text, reasoning, function_call_arguments, refusal, transcripts;
      // not audio (base64).
      bool audio = type.find("audio") != std::string_view::npos &&
                   type.find("transcript") == std::string_view::npos;
      if (!audio) {
        addText(s);
      }
    }
  }
  // Gemini candidates.
  if (arrayField(obj, "candidates", list)) {
    for (element c : list) {
      object cand;
      object content;
      array parts;
      if (c.get_object().get(cand) != SUCCESS || !objectField(cand, "content", content) ||
          !arrayField(content, "parts", parts)) {
        continue;
      }
      for (element p : parts) {
        object part;
        if (p.get_object().get(part) != SUCCESS) {
          continue;
        }
        if (stringField(part, "text", s)) {
          addText(s);
        }
        element call;
        if (field(part, "functionCall", call)) {
          addJsonText(call);
        }
      }
    }
  }
  // Ollama native.
  if (objectField(obj, "message", o)) {
    for (std::string_view key : {"content", "thinking"}) {
      if (stringField(o, key, s)) {
        addText(s);
      }
    }
    element calls;
    if (field(o, "tool_calls", calls)) {
      addJsonText(calls);
    }
  }
  for (std::string_view key : {"response", "thinking"}) {
    if (stringField(obj, key, s)) {
      addText(s);
    }
  }
}

}  // namespace tg::usage
