#pragma once
// Pretokenizer: splits text into the pieces that BPE then encodes one at a time (tiktoken's
// regex find_iter), internal to the tokenizer module.
//
// A hand-written matcher (ascii_split.h) settles every piece whose extent depends only on
// ASCII characters; anything else goes to tiktoken's own split patterns, run through PCRE2
// with JIT (UTF + UCP), which define the split. Two deliberate
// deviations from the literal pattern text keep PCRE2 identical to tiktoken's Rust regex
// engine (fancy-regex over the regex crate), which is the oracle:
//   - `\s` / `\S` are spelled out as Unicode White_Space. PCRE2's UCP `\s` is \p{Z} plus
//     \t\n\v\f\r and so misses U+0085 (NEL), which Rust's `\s` includes.
//   - cl100k uses the possessive form without tiktoken's later `\s++$` branch; see
//     pretokenizer.cc for why that is the form npm tiktoken 1.0.22 (our oracle) matches.
// Character properties come from the PCRE2 library's Unicode tables (10.42: Unicode 14), so
// letters added in Unicode 15+ may split differently from tiktoken builds on newer tables.
//
// The text must be valid UTF-8 (the JIT matcher does no UTF check; Bpe validates first).
//
// Thread safety: immutable after compile(); next() may run on any number of threads at once
// (match data is per thread).

#include <cstddef>
#include <memory>
#include <string_view>

#include "core/result.h"
#include "tokenizer/encoding.h"

struct pcre2_real_code_8;

namespace tg::tokenizer {

class Pretokenizer {
 public:
  // `asciiFastPath` = false leaves every match to PCRE2 (the differential test's reference).
  static core::Result<std::unique_ptr<Pretokenizer>> compile(Encoding encoding,
                                                             bool asciiFastPath = true);
  ~Pretokenizer();
  Pretokenizer(const Pretokenizer&) = delete;
  Pretokenizer& operator=(const Pretokenizer&) = delete;

  // Finds the next piece at or after `pos`: returns false when there is none, else sets
  // `start` and advances `pos` to the piece's end. Pieces are never empty.
  bool next(std::string_view text, size_t& pos, size_t& start) const;

  // The pattern actually compiled (for tests and diagnostics).
  static std::string_view pattern(Encoding encoding);

 private:
  Pretokenizer(Encoding encoding, pcre2_real_code_8* code, bool jit, bool asciiFastPath)
      : encoding_(encoding), code_(code), jit_(jit), asciiFastPath_(asciiFastPath) {}

  Encoding encoding_;
  pcre2_real_code_8* code_;
  bool jit_;
  bool asciiFastPath_;
};

}  // namespace tg::tokenizer
