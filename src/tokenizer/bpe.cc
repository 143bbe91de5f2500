// Bpe: split with the encoding's pattern, then per piece either the whole-piece fast path
// (the piece is itself a token: one hash lookup) or byte-pair merging (byte_pair.cc).

#include <fstream>
#include <sstream>

#include "tokenizer/byte_pair.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace tg::tokenizer {
namespace {

size_t expectedTokens(Encoding encoding) {
  return encoding == Encoding::O200kBase ? 199998 : 100256;
}

}  // namespace

std::string_view encodingName(Encoding encoding) {
  return encoding == Encoding::O200kBase ? "o200k_base" : "cl100k_base";
}

std::string_view rankFileName(Encoding encoding) {
  return encoding == Encoding::O200kBase ? "o200k_base.tiktoken" : "cl100k_base.tiktoken";
}

core::Result<std::unique_ptr<Bpe>> Bpe::load(Encoding encoding, const std::string& tiktokenFile) {
  std::ifstream in(tiktokenFile, std::ios::binary);
  if (!in) {
    return core::Error{"cannot open " + tiktokenFile};
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) {
    return core::Error{"cannot read " + tiktokenFile};
  }
  auto bpe = fromContents(encoding, buf.view());
  if (!bpe) {
    return core::Error{tiktokenFile + ": " + bpe.error()};
  }
  return bpe;
}

core::Result<std::unique_ptr<Bpe>> Bpe::fromContents(Encoding encoding, std::string_view contents) {
  auto ranks = RankTable::parse(contents);
  if (!ranks) {
    return core::Error{ranks.error()};
  }
  if (ranks->size() != expectedTokens(encoding)) {
    return core::Error{std::to_string(ranks->size()) + " tokens, but " +
                       std::string(encodingName(encoding)) + " has " +
                       std::to_string(expectedTokens(encoding))};
  }
  auto splitter = Pretokenizer::compile(encoding);
  if (!splitter) {
    return core::Error{splitter.error()};
  }
  return std::unique_ptr<Bpe>(
      new Bpe(encoding, std::move(ranks).value(), std::move(splitter).value()));
}

// Calls onPiece(p, n, key) for each piece, where key = ranks_.key(p, n) was prefetched one
// regex match earlier: the whole-piece lookup's cache miss overlaps the next match.
template <typename OnPiece>
void Bpe::forEachPiece(std::string_view text, OnPiece&& onPiece) const {
  std::string repaired;
  if (!isValidUtf8(text)) {
    repaired = repairUtf8(text);
    text = repaired;
  }
  const auto* base = reinterpret_cast<const uint8_t*>(text.data());
  size_t pos = 0;
  size_t start = 0;
  if (!splitter_->next(text, pos, start)) {
    return;
  }
  const uint8_t* p = base + start;
  size_t n = pos - start;
  RankTable::Key key = ranks_.key(p, n);
  ranks_.prefetch(key);
  while (splitter_->next(text, pos, start)) {
    const uint8_t* nextP = base + start;
    const size_t nextN = pos - start;
    const RankTable::Key nextKey = ranks_.key(nextP, nextN);
    ranks_.prefetch(nextKey);
    onPiece(p, n, key);
    p = nextP;
    n = nextN;
    key = nextKey;
  }
  onPiece(p, n, key);
}

size_t Bpe::count(std::string_view text) const {
  size_t total = 0;
  forEachPiece(text, [&](const uint8_t* p, size_t n, const RankTable::Key& key) {
    total += ranks_.find(key, p, n) != RankTable::kNoRank ? 1 : countPieceTokens(ranks_, p, n);
  });
  return total;
}

std::vector<uint32_t> Bpe::encode(std::string_view text) const {
  std::vector<uint32_t> out;
  out.reserve(text.size() / 3 + 1);
  forEachPiece(text, [&](const uint8_t* p, size_t n, const RankTable::Key& key) {
    const uint32_t whole = ranks_.find(key, p, n);
    if (whole != RankTable::kNoRank) {
      out.push_back(whole);
    } else {
      encodePiece(ranks_, p, n, out);
    }
  });
  return out;
}

}  // namespace tg::tokenizer
