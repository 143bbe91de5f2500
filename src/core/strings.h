#pragma once
// Small string helpers used across modules. All are pure and allocation-free unless they
// return a std::string.

#include <string>
#include <string_view>
#include <vector>

namespace tg::core {

inline char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// The value of a hexadecimal digit (either case), -1 for any other character.
inline int hexDigitValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// ASCII case-insensitive equality (HTTP field names, tokens). Inline: the header loops of the
// request path call it for every field.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    const unsigned char x = static_cast<unsigned char>(a[i]);
    const unsigned char y = static_cast<unsigned char>(b[i]);
    if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z')) {
      return false;
    }
  }
  return true;
}
// ASCII case-insensitive prefix test.
bool istartsWith(std::string_view s, std::string_view prefix);
std::string toLower(std::string_view s);
// Strips spaces and horizontal tabs (HTTP OWS) from both ends.
std::string_view trimOws(std::string_view s);
// Splits on `sep`, trimming OWS from each piece and dropping empty pieces
// (an HTTP comma-separated list).
std::vector<std::string_view> splitList(std::string_view s, char sep = ',');

}  // namespace tg::core
