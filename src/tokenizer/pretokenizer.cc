#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

#include <cstdlib>
#include <string>

#include "tokenizer/ascii_split.h"

namespace tg::tokenizer {
namespace {

// Unicode White_Space (PropList.txt, unchanged since Unicode 6.3), which is what `\s` means
// in Rust's regex crate. Spelled out because PCRE2's UCP `\s` lacks U+0085.
#define TG_WS                                                                  \
  "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}" \
  "\\x{202F}\\x{205F}\\x{3000}"

// cl100k_base. npm tiktoken 1.0.22 (the WASM build of tiktoken's Rust core, our oracle) runs
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*
//   |\s*[\r\n]+|\s+(?!\S)|\s+
// Below is the same language with tiktoken's possessive quantifiers (PR #234/#258): each
// change is exact (`\s*[\r\n]` backtracks to the last newline of the run, so `[\r\n]+` could
// only ever take one; a final `\s+` is reached only for one whitespace before non-space).
// Current tiktoken adds `\s++$` before `\s*[\r\n]`, which is NOT equivalent: for text ending
// in "\n  " it yields one piece "\n  " where the pattern above yields "\n" and "  ". We follow
// the oracle; the difference is at most a token at the very end of a text.
constexpr std::string_view kCl100kPattern =
    "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}++|\\p{N}{1,3}+"
    "| ?[^" TG_WS "\\p{L}\\p{N}]++[\\r\\n]*+|[" TG_WS "]*[\\r\\n]|[" TG_WS "]+(?![^" TG_WS
    "])|[" TG_WS "]";

// o200k_base, verbatim from tiktoken (openai_public.py) apart from the `\s` spelling.
constexpr std::string_view kO200kPattern =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}"
    "| ?[^" TG_WS
    "\\p{L}\\p{N}]+[\\r\\n/]*"
    "|[" TG_WS
    "]*[\\r\\n]+"
    "|[" TG_WS "]+(?![^" TG_WS
    "])"
    "|[" TG_WS "]+";

#undef TG_WS

// Per-thread PCRE2 state: one match-data block (one ovector pair is all we read) and, only
// after the default 32 KiB JIT stack overflowed once, a larger JIT stack.
struct ThreadState {
  pcre2_match_data* matchData = nullptr;
  pcre2_match_context* bigStackContext = nullptr;
  pcre2_jit_stack* bigStack = nullptr;

  ThreadState() : matchData(pcre2_match_data_create(1, nullptr)) {
    if (matchData == nullptr) {
      std::abort();  // out of memory for 48 bytes
    }
  }
  ~ThreadState() {
    pcre2_match_data_free(matchData);
    pcre2_match_context_free(bigStackContext);
    pcre2_jit_stack_free(bigStack);
  }
  pcre2_match_context* bigStackMatchContext() {
    if (bigStackContext == nullptr) {
      bigStack = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, nullptr);
      bigStackContext = pcre2_match_context_create(nullptr);
      if (bigStack != nullptr && bigStackContext != nullptr) {
        pcre2_jit_stack_assign(bigStackContext, nullptr, bigStack);
      }
    }
    return bigStackContext;
  }
};

ThreadState& threadState() {
  thread_local ThreadState state;
  return state;
}

}  // namespace

std::string_view Pretokenizer::pattern(Encoding encoding) {
  return encoding == Encoding::Cl100kBase ? kCl100kPattern : kO200kPattern;
}

core::Result<std::unique_ptr<Pretokenizer>> Pretokenizer::compile(Encoding encoding,
                                                                  bool asciiFastPath) {
  const std::string_view pat = pattern(encoding);
  int errorCode = 0;
  PCRE2_SIZE errorOffset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pat.data()), pat.size(),
                                   PCRE2_UTF | PCRE2_UCP, &errorCode, &errorOffset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(errorCode, message, sizeof message);
    return core::Error{std::string(encodingName(encoding)) +
                       " pattern: " + reinterpret_cast<const char*>(message) + " at offset " +
                       std::to_string(errorOffset)};
  }
  // Without JIT PCRE2's interpreter is ~5x slower but still correct.
  const bool jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return std::unique_ptr<Pretokenizer>(new Pretokenizer(encoding, code, jit, asciiFastPath));
}

Pretokenizer::~Pretokenizer() { pcre2_code_free(code_); }

bool Pretokenizer::next(std::string_view text, size_t& pos, size_t& start) const {
  if (pos >= text.size()) {
    return false;
  }
  if (asciiFastPath_) {
    const size_t end =
        matchAsciiPiece(encoding_, reinterpret_cast<const uint8_t*>(text.data()), text.size(), pos);
    if (end != 0) {
      start = pos;
      pos = end;
      return true;
    }
  }
  ThreadState& ts = threadState();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  // The text was validated once by the caller: re-checking UTF-8 from `pos` on every call
  // would make a split quadratic.
  int rc = jit_ ? pcre2_jit_match(code_, subject, text.size(), pos, 0, ts.matchData, nullptr)
                : pcre2_match(code_, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, ts.matchData,
                              nullptr);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
    rc = pcre2_jit_match(code_, subject, text.size(), pos, 0, ts.matchData,
                         ts.bigStackMatchContext());
  }
  if (rc == PCRE2_ERROR_NOMATCH) {
    pos = text.size();
    return false;
  }
  if (rc < 0) {
    // A resource limit on pathological input. Never seen with these patterns; keep counting
    // by taking the rest of the text as one piece (BPE on it is still O(n log n)).
    start = pos;
    pos = text.size();
    return true;
  }
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(ts.matchData);
  start = ov[0];
  pos = ov[1];
  if (pos == start) {
    // The patterns cannot match empty; guard against looping anyway (skip one UTF-8 char).
    do {
      ++pos;
    } while (pos < text.size() && (static_cast<uint8_t>(text[pos]) & 0xC0) == 0x80);
    return next(text, pos, start);
  }
  return true;
}

}  // namespace tg::tokenizer
