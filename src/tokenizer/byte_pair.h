#pragma once
// Byte-pair merging of one pre-tokenized piece (tiktoken's byte_pair_encode), internal to the
// tokenizer module.
//
// Definition (tiktoken src/lib.rs): start from the piece's single bytes; repeatedly merge the
// adjacent pair whose concatenated bytes have the lowest rank, the leftmost one on ties; stop
// when no adjacent concatenation is a token. Each remaining part's rank is its token id.
//
// Two implementations of that one definition:
//   - pieces of up to kSmallPieceBytes: tiktoken's array scan, O(n·m) but with a tiny
//     constant; almost every piece of real text is short.
//   - longer pieces: a doubly linked list of parts plus a min-heap of (rank, start) candidate
//     merges with lazy invalidation, O(n log n). Popping the smallest (rank, start) is exactly
//     "lowest rank, leftmost on ties", so both give identical tokens. This is what keeps a
//     1 MB run of one letter (one piece) linearithmic instead of quadratic.
// Callers try the whole piece as a token first (the fast path); these functions are for
// pieces that are not.
//
// Thread safety: pure functions of their arguments; the large-piece path uses thread_local
// scratch buffers.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tokenizer/rank_table.h"

namespace tg::tokenizer {

inline constexpr size_t kSmallPieceBytes = 128;

// Number of tokens of the piece [p, p+n), 1 <= n < 2^32.
size_t countPieceTokens(const RankTable& ranks, const uint8_t* p, size_t n);
// Appends the tokens of the piece [p, p+n), 1 <= n < 2^32, to `out`.
void encodePiece(const RankTable& ranks, const uint8_t* p, size_t n, std::vector<uint32_t>& out);

// The two strategies by name, so tests can check they agree. Scan needs n <= kSmallPieceBytes.
void encodePieceScan(const RankTable& ranks, const uint8_t* p, size_t n,
                     std::vector<uint32_t>& out);
void encodePieceHeap(const RankTable& ranks, const uint8_t* p, size_t n,
                     std::vector<uint32_t>& out);

}  // namespace tg::tokenizer
