#pragma once
// A hand-written matcher for the two split patterns that decides a match only when every
// character it has to classify is ASCII, internal to the tokenizer module.
//
// Why: PCRE2-JIT matching was a third of the tokenizer's time, and most pieces of prompts
// (English, code, JSON) are pure ASCII, where the patterns reduce to a few byte-class runs.
// How it stays exact: the function returns 0 ("undecided") as soon as deciding would need the
// Unicode class of a non-ASCII character (a letter run or a whitespace run that reaches a
// non-ASCII byte, an apostrophe before a non-ASCII character, ...); the caller then runs
// PCRE2 at the same position. A match at position p depends only on the text from p on, so
// mixing the two matchers piece by piece gives exactly PCRE2's split. Each branch below is
// the ASCII reading of one alternative, in the pattern's order; a differential test
// (tests/unit/tokenizer) compares it with PCRE2 on millions of random strings.
//
// Thread safety: pure functions.

#include <cstddef>
#include <cstdint>

#include "tokenizer/encoding.h"

namespace tg::tokenizer {

// The end of the piece that starts at s[p] (p < n), or 0 when undecided.
size_t matchAsciiPiece(Encoding encoding, const uint8_t* s, size_t n, size_t p);

}  // namespace tg::tokenizer
