#pragma once

// Helpers for writing JSON text by hand. The simulator builds every body with string appends so
// the bytes on the wire are exactly the ones documented (field order included); these helpers
// only take care of string escaping. Pure functions, thread-safe.

#include <string>
#include <string_view>

namespace tg::sim {

// Appends `text` as a quoted JSON string. Control characters, '"' and '\' are escaped; other
// bytes (including UTF-8 sequences) are copied unchanged.
void appendJsonString(std::string& out, std::string_view text);

// `text` as a quoted JSON string.
std::string jsonString(std::string_view text);

}  // namespace tg::sim
