#pragma once
// How the usage module turns text into a token count without depending on the tokenizer.
//
// The caller injects a TokenCounter (in the gateway: a lambda over tokenizer::Tokenizers::count
// for the request's model, exact for OpenAI models and an estimate otherwise). An empty
// TokenCounter means "use estimateTokensByBytes", the local bytes/4 rule, so this module builds
// and tests alone. A counter must be pure and cheap to copy; objects of this module that keep
// one (ResponseTracker) hold a copy, so a temporary lambda at the call site is fine.

#include <cstdint>
#include <functional>
#include <string_view>

namespace tg::usage {

// Counts the tokens of `text` (UTF-8). Must not throw; must return 0 only for empty text
// (callers clamp a zero for non-empty text to 1 anyway).
using TokenCounter = std::function<uint64_t(std::string_view text)>;

// ceil(bytes / 4): the o200k-like estimate of wire-formats.md §2.6 (bytes, not chars, so CJK
// text is not underestimated). No base64 detection: that is the tokenizer's job.
inline uint64_t estimateTokensByBytes(std::string_view text) { return (text.size() + 3) / 4; }

// `counter` when it has a target, otherwise estimateTokensByBytes.
inline uint64_t countTokens(const TokenCounter& counter, std::string_view text) {
  if (text.empty()) {
    return 0;
  }
  uint64_t n = counter ? counter(text) : estimateTokensByBytes(text);
  return n == 0 ? 1 : n;  // a non-empty text is at least one token (wire-formats.md §2.4)
}

// Every count read from the wire or estimated is clamped to this (10^12 tokens): providers'
// JSON may carry absurd numbers, and sums of a few clamped values cannot overflow uint64_t.
inline constexpr uint64_t kMaxTokenCount = 1'000'000'000'000ULL;

}  // namespace tg::usage
