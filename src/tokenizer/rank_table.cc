#include "tokenizer/rank_table.h"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>

namespace tg::tokenizer {
namespace {

constexpr uint8_t kBad = 0xFF;

constexpr std::array<uint8_t, 256> makeBase64Table() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) {
    v = kBad;
  }
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (uint8_t i = 0; i < 64; ++i) {
    t[static_cast<uint8_t>(alphabet[i])] = i;
  }
  return t;
}
constexpr std::array<uint8_t, 256> kBase64 = makeBase64Table();

// Strict standard base64 with '=' padding, as Python's b64decode accepts in these files.
bool decodeBase64(std::string_view in, std::string& out) {
  out.clear();
  if (in.empty() || in.size() % 4 != 0) {
    return false;
  }
  size_t pad = 0;
  if (in.back() == '=') {
    pad = (in[in.size() - 2] == '=') ? 2 : 1;
  }
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      uint8_t d;
      if (c == '=' && last && k >= 4 - pad) {
        d = 0;
      } else {
        d = kBase64[static_cast<uint8_t>(c)];
        if (d == kBad) {
          return false;
        }
      }
      v = v << 6 | d;
    }
    out.push_back(static_cast<char>(v >> 16));
    if (!last || pad < 2) {
      out.push_back(static_cast<char>(v >> 8));
    }
    if (!last || pad < 1) {
      out.push_back(static_cast<char>(v));
    }
  }
  return true;
}

core::Error lineError(size_t line, std::string_view what) {
  return core::Error{"line " + std::to_string(line) + ": " + std::string(what)};
}

}  // namespace

core::Result<RankTable> RankTable::parse(std::string_view contents) {
  // First pass: decode every line into (rank, bytes) and check the ranks.
  std::vector<std::string> tokens;
  std::vector<bool> seen;
  std::string bytes;
  size_t lineNo = 0;
  size_t pos = 0;
  size_t arenaSize = 0;
  while (pos < contents.size()) {
    size_t eol = contents.find('\n', pos);
    if (eol == std::string_view::npos) {
      eol = contents.size();
    }
    std::string_view line = contents.substr(pos, eol - pos);
    pos = eol + 1;
    ++lineNo;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.empty()) {
      continue;
    }
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos) {
      return lineError(lineNo, "expected `base64 rank`");
    }
    if (!decodeBase64(line.substr(0, sp), bytes)) {
      return lineError(lineNo, "invalid base64 token");
    }
    if (bytes.empty() || bytes.size() > kMaxTokenBytes) {
      return lineError(lineNo, "token length out of range");
    }
    std::string_view rankText = line.substr(sp + 1);
    uint32_t rank = 0;
    auto [end, ec] = std::from_chars(rankText.data(), rankText.data() + rankText.size(), rank);
    if (ec != std::errc{} || end != rankText.data() + rankText.size() || rank == kNoRank) {
      return lineError(lineNo, "invalid rank");
    }
    if (rank >= tokens.size()) {
      tokens.resize(rank + 1);
      seen.resize(rank + 1);
    }
    if (seen[rank]) {
      return lineError(lineNo, "duplicate rank " + std::to_string(rank));
    }
    seen[rank] = true;
    arenaSize += bytes.size();
    tokens[rank] = bytes;
  }
  if (tokens.empty()) {
    return core::Error{"no tokens"};
  }
  for (size_t r = 0; r < seen.size(); ++r) {
    if (!seen[r]) {
      return core::Error{"rank " + std::to_string(r) + " is missing"};
    }
  }
  if (arenaSize >= (size_t{1} << 24)) {
    return core::Error{"token bytes exceed 16 MiB"};
  }

  RankTable t;
  t.arena_.reserve(arenaSize);
  t.offsets_.reserve(tokens.size() + 1);
  for (const std::string& tok : tokens) {
    t.offsets_.push_back(static_cast<uint32_t>(t.arena_.size()));
    t.arena_ += tok;
    t.maxTokenBytes_ = std::max(t.maxTokenBytes_, tok.size());
  }
  t.offsets_.push_back(static_cast<uint32_t>(t.arena_.size()));

  // At most half full: linear probing stays at ~1.5 probes for hits and ~2.5 for misses.
  const size_t capacity = std::bit_ceil(tokens.size() * 2);
  t.slots_.assign(capacity, Slot{0, kNoRank, 0});
  t.mask_ = capacity - 1;
  for (uint32_t r = 0; r < tokens.size(); ++r) {
    const auto* p = reinterpret_cast<const uint8_t*>(t.arena_.data() + t.offsets_[r]);
    const size_t n = t.offsets_[r + 1] - t.offsets_[r];
    if (t.find(p, n) != kNoRank) {
      return core::Error{"token " + std::to_string(r) + " duplicates token " +
                         std::to_string(t.find(p, n))};
    }
    const uint64_t head = headOf(p, n);
    size_t i = hashOf(p, n, head) & t.mask_;
    while (t.slots_[i].rank != kNoRank) {
      i = (i + 1) & t.mask_;
    }
    t.slots_[i] = Slot{head, r, static_cast<uint32_t>(n << 24 | t.offsets_[r])};
  }
  t.pairs_.assign(size_t{1} << 16, kNoRank);
  for (uint32_t r = 0; r < tokens.size(); ++r) {
    if (t.offsets_[r + 1] - t.offsets_[r] == 2) {
      const auto* p = reinterpret_cast<const uint8_t*>(t.arena_.data() + t.offsets_[r]);
      t.pairs_[p[0] | p[1] << 8] = r;
    }
  }
  for (int b = 0; b < 256; ++b) {
    const auto byte = static_cast<uint8_t>(b);
    if (t.find(&byte, 1) == kNoRank) {
      return core::Error{"byte " + std::to_string(b) + " has no rank"};
    }
  }
  return t;
}

std::string_view RankTable::bytesOf(uint32_t rank) const {
  if (rank >= size()) {
    return {};
  }
  return std::string_view(arena_).substr(offsets_[rank], offsets_[rank + 1] - offsets_[rank]);
}

}  // namespace tg::tokenizer
