#include "tokenizer/utf8.h"

#include <cstdint>
#include <cstring>

namespace tg::tokenizer {
namespace {

// Length of the well-formed sequence at s[i] (Unicode Table 3-7), or 0 with `*bad` set to the
// length of the maximal invalid subpart to replace (at least 1).
size_t sequenceLength(const uint8_t* s, size_t n, size_t i, size_t* bad) {
  const uint8_t b0 = s[i];
  size_t len;
  uint8_t lo = 0x80;
  uint8_t hi = 0xBF;
  if (b0 < 0x80) {
    return 1;
  } else if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) {
      lo = 0xA0;  // no overlongs
    } else if (b0 == 0xED) {
      hi = 0x9F;  // no surrogates
    }
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) {
      lo = 0x90;
    } else if (b0 == 0xF4) {
      hi = 0x8F;  // nothing above U+10FFFF
    }
  } else {
    *bad = 1;
    return 0;
  }
  // The first continuation byte has the narrowed range; later ones the full 80..BF.
  for (size_t k = 1; k < len; ++k) {
    if (i + k >= n) {
      *bad = k;
      return 0;
    }
    const uint8_t c = s[i + k];
    if (c < lo || c > hi) {
      *bad = k;
      return 0;
    }
    lo = 0x80;
    hi = 0xBF;
  }
  return len;
}

bool allAscii8(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return (v & 0x8080808080808080ULL) == 0;
}

}  // namespace

bool isValidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n && allAscii8(s + i)) {
      i += 8;
      continue;
    }
    size_t bad = 0;
    const size_t len = sequenceLength(s, n, i, &bad);
    if (len == 0) {
      return false;
    }
    i += len;
  }
  return true;
}

std::string repairUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  std::string out;
  out.reserve(n + n / 8);
  size_t i = 0;
  while (i < n) {
    size_t bad = 0;
    const size_t len = sequenceLength(s, n, i, &bad);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      i += bad;
    } else {
      out.append(text.data() + i, len);
      i += len;
    }
  }
  return out;
}

}  // namespace tg::tokenizer
