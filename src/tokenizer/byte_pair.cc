#include "tokenizer/byte_pair.h"

#include <algorithm>
#include <functional>

namespace tg::tokenizer {
namespace {

constexpr uint32_t kNoRank = RankTable::kNoRank;

// tiktoken's scan. parts[i].rank is the rank of merging part i with part i+1, i.e. of the
// bytes [parts[i].start, parts[i+2].start); the last two entries are sentinels.
// Calls emit(start, end) for each final part, left to right; returns the number of parts.
template <typename Emit>
size_t mergeSmall(const RankTable& ranks, const uint8_t* p, size_t n, Emit&& emit) {
  struct Part {
    uint32_t start;
    uint32_t rank;
  };
  Part parts[kSmallPieceBytes + 1];
  for (size_t i = 0; i + 1 < n; ++i) {
    parts[i] = Part{static_cast<uint32_t>(i), ranks.findPair(p + i)};
  }
  parts[n - 1] = Part{static_cast<uint32_t>(n - 1), kNoRank};
  parts[n] = Part{static_cast<uint32_t>(n), kNoRank};
  size_t m = n + 1;
  for (;;) {
    // Lowest rank, leftmost on ties: the minimum of rank << 32 | index. Branch-free (the
    // compare-and-branch version mispredicts on every new minimum).
    uint64_t best = ~uint64_t{0};
    for (size_t k = 0; k + 1 < m; ++k) {
      best = std::min(best, uint64_t{parts[k].rank} << 32 | k);
    }
    if ((best >> 32) == kNoRank) {
      break;
    }
    const auto i = static_cast<size_t>(static_cast<uint32_t>(best));
    // Merge parts i and i+1; the new part i ends at parts[i+2].start (i <= m-3: the last
    // real part never has a rank). Re-rank the pairs it now forms with its neighbours,
    // [i-1, i+2) and [i, i+3); the lookups are independent, so both cache misses are started
    // before waiting on either.
    const bool hasLeft = i > 0;
    const bool hasRight = i + 3 < m;
    const uint8_t* left = hasLeft ? p + parts[i - 1].start : p;
    const size_t leftLen = hasLeft ? parts[i + 2].start - parts[i - 1].start : 0;
    const uint8_t* right = p + parts[i].start;
    const size_t rightLen = hasRight ? parts[i + 3].start - parts[i].start : 0;
    RankTable::Key leftKey{};
    RankTable::Key rightKey{};
    if (hasLeft) {
      leftKey = ranks.key(left, leftLen);
      ranks.prefetch(leftKey);
    }
    if (hasRight) {
      rightKey = ranks.key(right, rightLen);
      ranks.prefetch(rightKey);
    }
    if (hasLeft) {
      parts[i - 1].rank = ranks.find(leftKey, left, leftLen);
    }
    parts[i].rank = hasRight ? ranks.find(rightKey, right, rightLen) : kNoRank;
    std::copy(parts + i + 2, parts + m, parts + i + 1);
    --m;
  }
  for (size_t k = 0; k + 1 < m; ++k) {
    emit(parts[k].start, parts[k + 1].start);
  }
  return m - 1;
}

// The heap version for long pieces; see byte_pair.h. Parts are identified by their start
// offset; next[s] is the start of the following part (n for the last), 0 marks a part that
// was merged into its left neighbour. The scratch vectors are per thread and reused; after
// an unusually long piece they are released so a worker does not keep tens of MB.
constexpr size_t kKeepScratchBytes = 64 * 1024;
struct LargeScratch {
  std::vector<uint32_t> next;
  std::vector<uint32_t> prev;
  std::vector<uint32_t> rank;  // rank of merging this part with the next one
  std::vector<uint64_t> heap;  // rank << 32 | start, a min-heap (std::greater)
};

template <typename Emit>
size_t mergeLarge(const RankTable& ranks, const uint8_t* p, size_t n, Emit&& emit) {
  thread_local LargeScratch s;
  s.next.resize(n);
  s.prev.resize(n);
  s.rank.resize(n);
  s.heap.clear();
  auto push = [&](uint32_t rank, uint32_t start) {
    s.heap.push_back(uint64_t{rank} << 32 | start);
    std::push_heap(s.heap.begin(), s.heap.end(), std::greater<>());
  };
  for (uint32_t i = 0; i < n; ++i) {
    s.next[i] = i + 1;
    s.prev[i] = i - 1;  // wraps for i == 0, never read
    s.rank[i] = i + 1 < n ? ranks.findPair(p + i) : kNoRank;
    if (s.rank[i] != kNoRank) {
      s.heap.push_back(uint64_t{s.rank[i]} << 32 | i);
    }
  }
  std::make_heap(s.heap.begin(), s.heap.end(), std::greater<>());
  size_t parts = n;
  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end(), std::greater<>());
    const uint64_t top = s.heap.back();
    s.heap.pop_back();
    const auto rank = static_cast<uint32_t>(top >> 32);
    const auto a = static_cast<uint32_t>(top);
    // Stale entry: `a` was absorbed, or its pair changed since the push. (rank, start) pins
    // the pair's exact bytes, so a matching entry is always current.
    if (s.next[a] == 0 || s.rank[a] != rank) {
      continue;
    }
    const uint32_t b = s.next[a];
    const uint32_t end = s.next[b];
    s.next[a] = end;
    s.next[b] = 0;
    if (end < n) {
      s.prev[end] = a;
    }
    --parts;
    s.rank[a] = end < n ? ranks.find(p + a, s.next[end] - a) : kNoRank;
    if (s.rank[a] != kNoRank) {
      push(s.rank[a], a);
    }
    if (a > 0) {
      const uint32_t q = s.prev[a];
      s.rank[q] = ranks.find(p + q, end - q);
      if (s.rank[q] != kNoRank) {
        push(s.rank[q], q);
      }
    }
  }
  for (uint32_t a = 0; a < n; a = s.next[a]) {
    emit(a, s.next[a]);
  }
  if (n > kKeepScratchBytes) {
    s = LargeScratch{};
  }
  return parts;
}

template <typename Emit>
size_t merge(const RankTable& ranks, const uint8_t* p, size_t n, Emit&& emit) {
  if (n <= kSmallPieceBytes) {
    return mergeSmall(ranks, p, n, emit);
  }
  return mergeLarge(ranks, p, n, emit);
}

}  // namespace

size_t countPieceTokens(const RankTable& ranks, const uint8_t* p, size_t n) {
  return merge(ranks, p, n, [](uint32_t, uint32_t) {});
}

void encodePiece(const RankTable& ranks, const uint8_t* p, size_t n, std::vector<uint32_t>& out) {
  merge(ranks, p, n,
        [&](uint32_t from, uint32_t to) { out.push_back(ranks.find(p + from, to - from)); });
}

void encodePieceScan(const RankTable& ranks, const uint8_t* p, size_t n,
                     std::vector<uint32_t>& out) {
  mergeSmall(ranks, p, n,
             [&](uint32_t from, uint32_t to) { out.push_back(ranks.find(p + from, to - from)); });
}

void encodePieceHeap(const RankTable& ranks, const uint8_t* p, size_t n,
                     std::vector<uint32_t>& out) {
  mergeLarge(ranks, p, n,
             [&](uint32_t from, uint32_t to) { out.push_back(ranks.find(p + from, to - from)); });
}

}  // namespace tg::tokenizer
