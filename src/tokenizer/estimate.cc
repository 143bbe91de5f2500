// estimateTokens(): bytes/4 with base64-looking runs left out (see tokenizer.h for the rule
// and its measured error).

#include <array>

#include "tokenizer/tokenizer.h"

namespace tg::tokenizer {
namespace {

constexpr size_t kMinBase64Run = 256;

enum : uint8_t { kOther = 0, kUpper = 1, kLower = 2, kDigit = 4, kSymbol = 8 };

constexpr std::array<uint8_t, 256> makeClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 'A'; c <= 'Z'; ++c) {
    t[c] = kUpper;
  }
  for (int c = 'a'; c <= 'z'; ++c) {
    t[c] = kLower;
  }
  for (int c = '0'; c <= '9'; ++c) {
    t[c] = kDigit;
  }
  // '+' '/' '=' are base64; '\\' appears when JSON escapes '/' as "\/".
  t['+'] = t['/'] = t['='] = t['\\'] = kSymbol;
  return t;
}
constexpr std::array<uint8_t, 256> kClass = makeClasses();

}  // namespace

uint64_t estimateTokens(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  uint64_t excluded = 0;
  size_t i = 0;
  while (i < n) {
    if (kClass[s[i]] == kOther) {
      ++i;
      continue;
    }
    const size_t runStart = i;
    uint8_t seen = 0;
    while (i < n && kClass[s[i]] != kOther) {
      seen |= kClass[s[i]];
      ++i;
    }
    constexpr uint8_t kMixed = kUpper | kLower | kDigit;
    if (i - runStart >= kMinBase64Run && (seen & kMixed) == kMixed) {
      excluded += i - runStart;
    }
  }
  return (n - excluded + 3) / 4;
}

}  // namespace tg::tokenizer
