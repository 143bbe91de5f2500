// The ASCII reading of the split patterns (pretokenizer.cc has them in full). In ASCII,
// \p{L} is [A-Za-z] (\p{Lu} [A-Z], \p{Ll} [a-z], no \p{Lt}/\p{Lm}/\p{Lo}/\p{M}), \p{N} is
// [0-9] and \s is [\t\n\v\f\r ]. Everything else ASCII (punctuation, other controls) is
// "punct": not \s, \p{L} or \p{N}.

#include "tokenizer/ascii_split.h"

#include <array>

namespace tg::tokenizer {
namespace {

enum Class : uint8_t { kNonAscii, kLower, kUpper, kDigit, kNewline, kSpace, kOtherWs, kPunct };

constexpr std::array<uint8_t, 256> makeClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 128; ++c) {
    t[c] = kPunct;
  }
  for (int c = 128; c < 256; ++c) {
    t[c] = kNonAscii;
  }
  for (int c = 'a'; c <= 'z'; ++c) {
    t[c] = kLower;
  }
  for (int c = 'A'; c <= 'Z'; ++c) {
    t[c] = kUpper;
  }
  for (int c = '0'; c <= '9'; ++c) {
    t[c] = kDigit;
  }
  t['\r'] = t['\n'] = kNewline;
  t[' '] = kSpace;
  t['\t'] = t['\v'] = t['\f'] = kOtherWs;
  return t;
}
constexpr std::array<uint8_t, 256> kClass = makeClasses();

constexpr size_t kUndecided = 0;  // never a real end: a piece ends after its start
constexpr size_t kContractionUndecided = SIZE_MAX;

bool isLetter(uint8_t c) { return c == kLower || c == kUpper; }

// (?i:'s|'t|'re|'ve|'m|'ll|'d) at s[e]: the end after it, `e` when there is none, or
// kContractionUndecided. Case-insensitively only 's' has a non-ASCII equivalent (U+017F
// LONG S), so a non-ASCII character right after the apostrophe is left to PCRE2.
size_t contraction(const uint8_t* s, size_t n, size_t e) {
  if (e + 1 >= n || s[e] != '\'') {
    return e;
  }
  const uint8_t c1 = s[e + 1];
  if (c1 >= 0x80) {
    return kContractionUndecided;
  }
  switch (c1 | 0x20) {  // ASCII lower case; only 'X' and 'x' map to 'x'
    case 's':
    case 't':
    case 'm':
    case 'd':
      return e + 2;
    case 'r':
    case 'v':
      return e + 2 < n && (s[e + 2] | 0x20) == 'e' ? e + 3 : e;
    case 'l':
      return e + 2 < n && (s[e + 2] | 0x20) == 'l' ? e + 3 : e;
    default:
      return e;
  }
}

// \p{N}{1,3} from a digit at s[p].
size_t digits(const uint8_t* s, size_t n, size_t p) {
  size_t d = p + 1;
  while (d < n && d < p + 3 && kClass[s[d]] == kDigit) {
    ++d;
  }
  if (d < n && d < p + 3 && kClass[s[d]] == kNonAscii) {
    return kUndecided;  // a non-ASCII digit (٣, ①, ...) would continue the run
  }
  return d;
}

// ` ?[^\s\p{L}\p{N}]+` then [\r\n]* (cl100k) or [\r\n/]* (o200k), from a space or punct at
// s[p]. Returns SIZE_MAX when the branch fails (a space not followed by punct).
size_t punctuation(const uint8_t* s, size_t n, size_t p, bool slashTail) {
  const size_t q = kClass[s[p]] == kSpace ? p + 1 : p;
  size_t r = q;
  while (r < n && kClass[s[r]] == kPunct) {
    ++r;
  }
  if (r < n && kClass[s[r]] == kNonAscii) {
    return kUndecided;  // non-ASCII punctuation or symbols would continue the run
  }
  if (r == q) {
    return SIZE_MAX;
  }
  while (r < n && (s[r] == '\r' || s[r] == '\n' || (slashTail && s[r] == '/'))) {
    ++r;
  }
  return r;
}

// The three whitespace alternatives, identical in effect for both patterns:
//   \s*[\r\n]+ (o200k) / \s*[\r\n] (cl100k): up to and including the run's last newline;
//   \s+(?!\S): the whole run at the end of the text, else all of it but the last character;
//   \s+ / \s: a single whitespace character before non-space.
size_t whitespace(const uint8_t* s, size_t n, size_t p) {
  size_t w = p;
  size_t lastNewline = SIZE_MAX;
  for (; w < n; ++w) {
    const uint8_t c = kClass[s[w]];
    if (c == kNewline) {
      lastNewline = w;
    } else if (c != kSpace && c != kOtherWs) {
      break;
    }
  }
  if (w < n && kClass[s[w]] == kNonAscii) {
    return kUndecided;  // U+00A0, U+3000, ... would continue the run
  }
  if (lastNewline != SIZE_MAX) {
    return lastNewline + 1;
  }
  if (w == n) {
    return n;
  }
  return w - p >= 2 ? w - 1 : w;
}

size_t matchO200k(const uint8_t* s, size_t n, size_t p) {
  const uint8_t c0 = kClass[s[p]];
  if (c0 == kNonAscii) {
    return kUndecided;
  }
  // [^\r\n\p{L}\p{N}]?[\p{Lu}...]*[\p{Ll}...]+('s...)? |
  // [^\r\n\p{L}\p{N}]?[\p{Lu}...]+[\p{Ll}...]*('s...)?
  if (c0 != kNewline && c0 != kDigit) {
    const size_t q = isLetter(c0) ? p : p + 1;  // any other c0 is the optional prefix
    size_t u = q;
    while (u < n && kClass[s[u]] == kUpper) {
      ++u;
    }
    size_t l = u;
    while (l < n && kClass[s[l]] == kLower) {
      ++l;
    }
    if (l < n && kClass[s[l]] == kNonAscii) {
      return kUndecided;  // a non-ASCII letter or mark could extend either run
    }
    if (l > q) {  // first branch if l > u, else the second (upper-case only)
      const size_t e = contraction(s, n, l);
      return e == kContractionUndecided ? kUndecided : e;
    }
    // No letter after the prefix: both branches fail (and without the prefix they would have
    // to start at the non-letter c0).
  }
  if (c0 == kDigit) {  // \p{N}{1,3}
    return digits(s, n, p);
  }
  if (c0 == kSpace || c0 == kPunct) {  //  ?[^\s\p{L}\p{N}]+[\r\n/]*
    const size_t e = punctuation(s, n, p, /*slashTail=*/true);
    if (e != SIZE_MAX) {
      return e;
    }
  }
  return whitespace(s, n, p);
}

size_t matchCl100k(const uint8_t* s, size_t n, size_t p) {
  const uint8_t c0 = kClass[s[p]];
  if (c0 == kNonAscii) {
    return kUndecided;
  }
  if (s[p] == '\'') {  // '(?i:[sdmt]|ll|ve|re)
    const size_t e = contraction(s, n, p);
    if (e == kContractionUndecided) {
      return kUndecided;
    }
    if (e > p) {
      return e;
    }
  }
  if (c0 != kNewline && c0 != kDigit) {  // [^\r\n\p{L}\p{N}]?+\p{L}++
    const size_t q = isLetter(c0) ? p : p + 1;
    size_t r = q;
    while (r < n && isLetter(kClass[s[r]])) {
      ++r;
    }
    if (r < n && kClass[s[r]] == kNonAscii) {
      return kUndecided;
    }
    if (r > q) {
      return r;
    }
  }
  if (c0 == kDigit) {  // \p{N}{1,3}+
    return digits(s, n, p);
  }
  if (c0 == kSpace || c0 == kPunct) {  //  ?[^\s\p{L}\p{N}]++[\r\n]*+
    const size_t e = punctuation(s, n, p, /*slashTail=*/false);
    if (e != SIZE_MAX) {
      return e;
    }
  }
  return whitespace(s, n, p);  // \s*[\r\n] | \s+(?!\S) | \s
}

}  // namespace

size_t matchAsciiPiece(Encoding encoding, const uint8_t* s, size_t n, size_t p) {
  return encoding == Encoding::O200kBase ? matchO200k(s, n, p) : matchCl100k(s, n, p);
}

}  // namespace tg::tokenizer
