#pragma once
// RankTable: the mergeable ranks of one BPE encoding, a map from a token's bytes to its rank
// (which is also its token id), loaded from a `.tiktoken` file.
//
// The `.tiktoken` format is one `base64(token_bytes) SP rank` entry per line
// (tiktoken load_tiktoken_bpe). parse() checks what the BPE relies on: ranks are 0..n-1
// without gaps or duplicates, no token is empty or longer than kMaxTokenBytes, and every
// single byte has a rank (so a piece can always fall back to bytes).
//
// Layout. find() is the hottest call of the tokenizer (once per piece, and once per candidate
// pair during merges), so the table is a flat open-addressing array with linear probing, kept
// at most half full. A slot holds a canonical 8-byte "head" of the key, its length and rank,
// and an offset into one byte arena holding all token bytes. Keys of up to 8 bytes compare by
// head and length alone, without touching the arena; that covers ~90% of tokens.
//
// Thread safety: immutable after parse(); find() and bytesOf() may run on any number of
// threads at once.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace tg::tokenizer {

class RankTable {
 public:
  // Returned by find() when the bytes are not a token.
  static constexpr uint32_t kNoRank = UINT32_MAX;
  // Longest token accepted (o200k's longest is 128 bytes, cl100k's 128).
  static constexpr size_t kMaxTokenBytes = 255;

  // Parses a whole `.tiktoken` file. Errors name the offending line.
  static core::Result<RankTable> parse(std::string_view contents);

  RankTable() = default;
  RankTable(RankTable&&) = default;
  RankTable& operator=(RankTable&&) = default;
  RankTable(const RankTable&) = delete;
  RankTable& operator=(const RankTable&) = delete;

  // A hashed key: computing it is cheap, its slot is usually a cache miss. Callers that have
  // independent lookups to do compute the keys first, prefetch() them, and only then find(),
  // so the misses overlap (with each other or with the next regex match).
  struct Key {
    uint64_t head;
    size_t slot;
  };
  Key key(const uint8_t* p, size_t n) const {
    if (n > maxTokenBytes_) {
      return Key{0, 0};  // find() rejects the length first; don't hash a megabyte
    }
    const uint64_t head = headOf(p, n);
    return Key{head, hashOf(p, n, head) & mask_};
  }
  void prefetch(const Key& k) const { __builtin_prefetch(&slots_[k.slot]); }

  // The rank of the n bytes at p (1 <= n), or kNoRank; `k` must be key(p, n).
  uint32_t find(const Key& k, const uint8_t* p, size_t n) const {
    if (n > maxTokenBytes_) {
      return kNoRank;
    }
    for (size_t i = k.slot;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.rank == kNoRank) {
        return kNoRank;
      }
      if (s.head == k.head && (s.lenOff >> 24) == n &&
          (n <= 8 || std::memcmp(arena_.data() + (s.lenOff & 0xFFFFFF) + 8, p + 8, n - 8) == 0)) {
        return s.rank;
      }
    }
  }
  uint32_t find(const uint8_t* p, size_t n) const { return find(key(p, n), p, n); }
  // The rank of the two bytes at p: a direct 64K-entry table (256 KiB, stays in L2), since
  // every merge starts with one lookup per adjacent byte pair.
  uint32_t findPair(const uint8_t* p) const { return pairs_[p[0] | p[1] << 8]; }
  uint32_t find(std::string_view bytes) const {
    return find(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }

  // The bytes of token `rank` (empty if rank >= size()).
  std::string_view bytesOf(uint32_t rank) const;
  // Number of tokens (ranks are 0..size()-1).
  size_t size() const { return offsets_.empty() ? 0 : offsets_.size() - 1; }

 private:
  struct Slot {
    uint64_t head;
    uint32_t rank;    // kNoRank marks an empty slot
    uint32_t lenOff;  // length << 24 | arena offset
  };

  static uint64_t load64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  static uint64_t load32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  // A canonical 64-bit summary of the key that, together with n, identifies keys of up to 8
  // bytes exactly: overlapping 4-byte loads for 4..8 bytes, three single bytes for 1..3.
  // Never reads outside [p, p+n).
  static uint64_t headOf(const uint8_t* p, size_t n) {
    if (n >= 8) {
      return load64(p);
    }
    if (n >= 4) {
      return load32(p) | (load32(p + n - 4) << 32);
    }
    return uint64_t{p[0]} | uint64_t{p[n >> 1]} << 8 | uint64_t{p[n - 1]} << 16;
  }
  // Folded 64x64->128 multiply (as in wyhash): every input bit reaches the low bits used as
  // the slot index. (A single multiply plus xor-shift clustered badly: ~3 probes per hit.)
  static uint64_t mix(uint64_t x, uint64_t y) {
    const unsigned __int128 m =
        static_cast<unsigned __int128>(x ^ 0xa0761d6478bd642fULL) * (y ^ 0xe7037ed1a0b428dbULL);
    return static_cast<uint64_t>(m) ^ static_cast<uint64_t>(m >> 64);
  }
  static uint64_t hashOf(const uint8_t* p, size_t n, uint64_t head) {
    uint64_t h = mix(head, n);
    if (n > 8) {
      for (size_t i = 8; i + 8 < n; i += 8) {
        h = mix(h, load64(p + i));
      }
      h = mix(h, load64(p + n - 8));
    }
    return h;
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t maxTokenBytes_ = 0;       // the longest token (128 in both encodings)
  std::vector<uint32_t> pairs_;    // rank of bytes (b0, b1) at b0 | b1 << 8, or kNoRank
  std::string arena_;              // all token bytes, in rank order
  std::vector<uint32_t> offsets_;  // token r is arena_[offsets_[r], offsets_[r+1])
};

}  // namespace tg::tokenizer
