#pragma once
// UTF-8 validation and repair for the tokenizer, internal to the module.
//
// The pretokenizer's JIT matcher requires valid UTF-8 (it does no checks of its own), while
// request bodies are untrusted bytes. Valid text, the normal case, is validated in one pass
// (8 ASCII bytes at a time). Invalid text is repaired the way a JavaScript TextDecoder or
// Python's bytes.decode("utf-8", "replace") does (WHATWG: each maximal invalid subpart becomes
// U+FFFD), which is what the oracle would have seen after decoding.
//
// Thread safety: pure functions.

#include <string>
#include <string_view>

namespace tg::tokenizer {

// True when `text` is well-formed UTF-8: no overlong forms, no surrogates, nothing above
// U+10FFFF, no truncated sequence.
bool isValidUtf8(std::string_view text);

// `text` with every maximal invalid subpart replaced by U+FFFD (EF BF BD).
std::string repairUtf8(std::string_view text);

}  // namespace tg::tokenizer
