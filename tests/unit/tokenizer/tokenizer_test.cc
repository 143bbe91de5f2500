// tokenizer/: exactness against npm tiktoken (tests/tokenizer-corpus/expected.json, generated
// by gen.mjs), plus model mapping, the estimate, bounds, thread safety and long pieces.

#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tokenizer/byte_pair.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/rank_table.h"
#include "tokenizer/utf8.h"

namespace tg::tokenizer {
namespace {

const std::string kDataDir = TG_TOKENIZER_DATA_DIR;
const std::string kCorpusDir = TG_TOKENIZER_CORPUS_DIR;
constexpr Encoding kEncodings[] = {Encoding::O200kBase, Encoding::Cl100kBase};

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

uint32_t fnv1a(const std::vector<uint32_t>& ids) {
  uint32_t h = 2166136261u;
  for (uint32_t id : ids) {
    h = (h ^ id) * 16777619u;
  }
  return h;
}

struct Expected {
  size_t count = 0;
  uint32_t hash = 0;
  bool hasIds = false;
  std::vector<uint32_t> ids;
};

struct CorpusFile {
  std::string name;
  std::string text;
  Expected expected[2];  // indexed by Encoding
};

struct CorpusCase {
  std::string text;
  std::vector<uint32_t> expected[2];
};

struct Corpus {
  std::vector<CorpusFile> files;
  std::vector<CorpusCase> cases;
};

std::vector<uint32_t> idsOf(simdjson::dom::array arr) {
  std::vector<uint32_t> ids;
  for (simdjson::dom::element e : arr) {
    ids.push_back(static_cast<uint32_t>(uint64_t(e)));
  }
  return ids;
}

const Corpus& corpus() {
  static const Corpus c = [] {
    Corpus out;
    simdjson::dom::parser parser;
    const simdjson::padded_string json =
        simdjson::padded_string::load(kCorpusDir + "/expected.json");
    const simdjson::dom::element root = parser.parse(json);
    for (simdjson::dom::element f : simdjson::dom::array(root["files"])) {
      CorpusFile file;
      file.name = std::string(std::string_view(f["name"]));
      file.text = readFile(kCorpusDir + "/texts/" + file.name);
      EXPECT_EQ(file.text.size(), uint64_t(f["bytes"])) << file.name;
      for (Encoding e : kEncodings) {
        const simdjson::dom::element x = f[encodingName(e)];
        Expected& exp = file.expected[static_cast<int>(e)];
        exp.count = uint64_t(x["count"]);
        exp.hash = static_cast<uint32_t>(uint64_t(x["fnv1a"]));
        simdjson::dom::array ids;
        if (x["ids"].get(ids) == simdjson::SUCCESS) {
          exp.hasIds = true;
          exp.ids = idsOf(ids);
        }
      }
      out.files.push_back(std::move(file));
    }
    for (simdjson::dom::element k : simdjson::dom::array(root["cases"])) {
      CorpusCase cc;
      cc.text = std::string(std::string_view(k["text"]));
      for (Encoding e : kEncodings) {
        cc.expected[static_cast<int>(e)] = idsOf(simdjson::dom::array(k[encodingName(e)]));
      }
      out.cases.push_back(std::move(cc));
    }
    return out;
  }();
  return c;
}

const Bpe& bpe(Encoding e) {
  static const std::unique_ptr<Tokenizers> t = [] {
    auto r = Tokenizers::load(kDataDir);
    if (!r) {
      std::fprintf(stderr, "cannot load tokenizers: %s\n", r.error().c_str());
      std::abort();
    }
    return std::move(r).value();
  }();
  return t->get(e);
}

// Shows where two token sequences first differ, with the bytes of the tokens around it.
std::string describeMismatch(const Bpe& b, const std::vector<uint32_t>& got,
                             const std::vector<uint32_t>& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) {
    ++i;
  }
  auto show = [&](const std::vector<uint32_t>& v) {
    std::string s;
    for (size_t k = i; k < std::min(v.size(), i + 4); ++k) {
      s += std::to_string(v[k]) + "'" + std::string(b.tokenBytes(v[k])) + "' ";
    }
    return s;
  };
  return "first difference at token " + std::to_string(i) + ": got " + show(got) + "; want " +
         show(want);
}

// --- exactness ------------------------------------------------------------------------------

TEST(TokenizerCorpusTest, EveryFileMatchesTiktokenForBothEncodings) {
  const Corpus& c = corpus();
  ASSERT_GE(c.files.size(), 20u);
  int matched = 0;
  for (const CorpusFile& f : c.files) {
    for (Encoding e : kEncodings) {
      const Expected& exp = f.expected[static_cast<int>(e)];
      const std::vector<uint32_t> ids = bpe(e).encode(f.text);
      const size_t count = bpe(e).count(f.text);
      bool ok = true;
      EXPECT_EQ(count, exp.count) << f.name << " " << encodingName(e);
      ok &= count == exp.count;
      EXPECT_EQ(ids.size(), exp.count) << f.name << " " << encodingName(e);
      EXPECT_EQ(fnv1a(ids), exp.hash) << f.name << " " << encodingName(e);
      ok &= ids.size() == exp.count && fnv1a(ids) == exp.hash;
      if (exp.hasIds) {
        EXPECT_TRUE(ids == exp.ids)
            << f.name << " " << encodingName(e) << ": " << describeMismatch(bpe(e), ids, exp.ids);
        ok &= ids == exp.ids;
      }
      matched += ok;
    }
  }
  std::printf("[ corpus   ] %d of %zu file x encoding pairs match tiktoken exactly\n", matched,
              c.files.size() * 2);
}

TEST(TokenizerCorpusTest, EdgeCasesMatchTiktoken) {
  const Corpus& c = corpus();
  ASSERT_GE(c.cases.size(), 40u);
  for (const CorpusCase& k : c.cases) {
    for (Encoding e : kEncodings) {
      const auto& want = k.expected[static_cast<int>(e)];
      const std::vector<uint32_t> got = bpe(e).encode(k.text);
      EXPECT_TRUE(got == want) << encodingName(e) << " text=\"" << k.text
                               << "\": " << describeMismatch(bpe(e), got, want);
      EXPECT_EQ(bpe(e).count(k.text), want.size()) << encodingName(e) << " \"" << k.text << "\"";
    }
  }
}

TEST(TokenizerCorpusTest, TokensConcatenateBackToTheText) {
  for (const CorpusFile& f : corpus().files) {
    for (Encoding e : kEncodings) {
      std::string decoded;
      for (uint32_t id : bpe(e).encode(f.text)) {
        decoded += bpe(e).tokenBytes(id);
      }
      EXPECT_TRUE(decoded == f.text) << f.name << " " << encodingName(e);
    }
  }
}

// npm tiktoken 1.0.22 splits trailing "\n  " as "\n" + "  "; current tiktoken's `\s++$` would
// keep it whole. We follow the oracle (pretokenizer.cc explains).
TEST(TokenizerCorpusTest, TrailingWhitespaceAfterNewlineSplitsLikeTheOracle) {
  for (Encoding e : kEncodings) {
    const std::vector<uint32_t> ids = bpe(e).encode("hello\n  ");
    ASSERT_EQ(ids.size(), 3u) << encodingName(e);
    EXPECT_EQ(bpe(e).tokenBytes(ids[1]), "\n");
    EXPECT_EQ(bpe(e).tokenBytes(ids[2]), "  ");
  }
}

// The scan (short pieces) and the heap (long pieces) are two implementations of one rule.
TEST(TokenizerMergeTest, ScanAndHeapAgreeOnEveryPieceLength) {
  std::mt19937 rng(12345);
  const std::string alphabets[] = {"ab",
                                   "abc ",
                                   "aaaaab",
                                   "eariotnslcu",
                                   "0123456789",
                                   "!=-.*#",
                                   "\xe4\xb8\x80\xe4\xba\x8c"};  // 一二
  // One parse per encoding; then compare both strategies on many random pieces.
  for (Encoding e : kEncodings) {
    auto ranks = RankTable::parse(readFile(kDataDir + "/" + std::string(rankFileName(e))));
    ASSERT_TRUE(ranks.ok()) << ranks.error();
    for (const std::string& alphabet : alphabets) {
      for (size_t n = 1; n <= kSmallPieceBytes; ++n) {
        std::string piece;
        if (alphabet[0] == '\xe4') {
          while (piece.size() + 3 <= n) {
            piece += alphabet.substr(3 * (rng() % 2), 3);
          }
          if (piece.empty()) {
            continue;
          }
        } else {
          for (size_t i = 0; i < n; ++i) {
            piece += alphabet[rng() % alphabet.size()];
          }
        }
        const auto* p = reinterpret_cast<const uint8_t*>(piece.data());
        std::vector<uint32_t> scan;
        std::vector<uint32_t> heap;
        encodePieceScan(*ranks, p, piece.size(), scan);
        encodePieceHeap(*ranks, p, piece.size(), heap);
        ASSERT_EQ(scan, heap) << encodingName(e) << " piece \"" << piece << "\"";
        EXPECT_EQ(countPieceTokens(*ranks, p, piece.size()), scan.size());
      }
    }
  }
}

// --- bounds and robustness ------------------------------------------------------------------

TEST(TokenizerBoundsTest, CountIsBetweenOneAndTheByteCount) {
  std::vector<std::string> texts = {"a", " ", "\n", "\xF0\x9F\x98\x80", "a b c"};
  for (const CorpusFile& f : corpus().files) {
    texts.push_back(f.text);
  }
  for (const CorpusCase& k : corpus().cases) {
    texts.push_back(k.text);
  }
  for (Encoding e : kEncodings) {
    EXPECT_EQ(bpe(e).count(""), 0u);
    EXPECT_TRUE(bpe(e).encode("").empty());
    for (const std::string& t : texts) {
      const size_t n = bpe(e).count(t);
      EXPECT_LE(n, t.size()) << encodingName(e);
      if (!t.empty()) {
        EXPECT_GE(n, 1u) << encodingName(e);
      }
    }
  }
}

TEST(TokenizerBoundsTest, InvalidUtf8IsCountedAsItsReplacement) {
  const std::string invalid[] = {
      "\xff",  // never valid
      "abc\x80"
      "def",               // lone continuation byte
      "\xc3",              // truncated 2-byte sequence at the end
      "\xe4\xb8",          // truncated 3-byte sequence
      "\xed\xa0\x80",      // UTF-16 surrogate
      "\xc0\xaf",          // overlong '/'
      "\xf4\x90\x80\x80",  // above U+10FFFF
      "ok \xf0\x9f\x98 then \xe2\x82 more",
  };
  for (const std::string& s : invalid) {
    EXPECT_FALSE(isValidUtf8(s));
    const std::string fixed = repairUtf8(s);
    EXPECT_TRUE(isValidUtf8(fixed));
    for (Encoding e : kEncodings) {
      EXPECT_EQ(bpe(e).count(s), bpe(e).count(fixed));
      EXPECT_EQ(bpe(e).encode(s), bpe(e).encode(fixed));
    }
  }
  EXPECT_EQ(repairUtf8("a\xe4\xb8"
                       "b"),
            "a\xEF\xBF\xBD"
            "b");  // one U+FFFD per maximal subpart
  EXPECT_EQ(repairUtf8("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_TRUE(isValidUtf8("plain ascii, \xc3\xa9, \xe4\xb8\x80, \xf0\x9f\x98\x80"));
}

TEST(TokenizerBoundsTest, NulAndControlBytesAreText) {
  const std::string s("a\0b\0\0c", 6);
  for (Encoding e : kEncodings) {
    std::string decoded;
    for (uint32_t id : bpe(e).encode(s)) {
      decoded += bpe(e).tokenBytes(id);
    }
    EXPECT_EQ(decoded, s);
  }
}

// One-piece adversarial inputs must finish (no timing assertion; a quadratic merge would take
// hours on 1 MB). The other shapes are smaller to keep the sanitizer build fast.
TEST(TokenizerLongPieceTest, OneMegabyteLetterRunFinishes) {
  const std::string run(1 << 20, 'a');
  for (Encoding e : kEncodings) {
    const size_t n = bpe(e).count(run);
    // The run is one piece; both encodings end up with the same repeated 8-byte token.
    EXPECT_EQ(n, run.size() / 8) << encodingName(e);
  }
}

TEST(TokenizerLongPieceTest, OtherLongRunsFinish) {
  const size_t kSize = 128 * 1024;
  std::string cjk;
  while (cjk.size() < kSize) {
    cjk += "\xe4\xb8\x80\xe4\xba\x8c\xe4\xb8\x89";  // 一二三, no spaces: one piece
  }
  std::string mixedCase;
  for (size_t i = 0; i < kSize; ++i) {
    mixedCase += "aAbB"[i % 4];
  }
  const std::string runs[] = {std::string(kSize, 'Z'),
                              std::string(kSize, '!'),
                              std::string(kSize, ' ') + "x",
                              std::string(kSize, '\n'),
                              std::string(kSize, '7'),
                              cjk,
                              mixedCase};
  for (Encoding e : kEncodings) {
    for (const std::string& run : runs) {
      const size_t n = bpe(e).count(run);
      EXPECT_GE(n, run.size() / 128) << encodingName(e);  // no token is longer than 128 bytes
      EXPECT_LE(n, run.size()) << encodingName(e);
      EXPECT_EQ(bpe(e).encode(run).size(), n) << encodingName(e);
    }
  }
}

// --- concurrency ----------------------------------------------------------------------------

TEST(TokenizerThreadTest, ManyThreadsCountConcurrently) {
  const Corpus& c = corpus();
  constexpr int kThreads = 6;
  constexpr int kRounds = 3;
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        for (size_t i = 0; i < c.files.size(); ++i) {
          const CorpusFile& f = c.files[(i + t) % c.files.size()];
          const Encoding e = kEncodings[(t + round) % 2];
          if (bpe(e).count(f.text) != f.expected[static_cast<int>(e)].count) {
            ++mismatches;
          }
          if (fnv1a(bpe(e).encode(f.text)) != f.expected[static_cast<int>(e)].hash) {
            ++mismatches;
          }
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(mismatches.load(), 0);
}

// --- model mapping --------------------------------------------------------------------------

TEST(EncodingForModelTest, OpenAiFamilies) {
  const std::pair<const char*, Encoding> known[] = {
      {"gpt-5", Encoding::O200kBase},
      {"gpt-5-mini", Encoding::O200kBase},
      {"gpt-5.1-codex", Encoding::O200kBase},
      {"gpt-4.1", Encoding::O200kBase},
      {"gpt-4.1-nano-2025-04-14", Encoding::O200kBase},
      {"gpt-4.5-preview", Encoding::O200kBase},
      {"gpt-4o", Encoding::O200kBase},
      {"gpt-4o-mini-2024-07-18", Encoding::O200kBase},
      {"chatgpt-4o-latest", Encoding::O200kBase},
      {"o1", Encoding::O200kBase},
      {"o1-preview", Encoding::O200kBase},
      {"o3-mini", Encoding::O200kBase},
      {"o3", Encoding::O200kBase},
      {"o4-mini-2025-04-16", Encoding::O200kBase},
      {"gpt-4", Encoding::Cl100kBase},
      {"gpt-4-0613", Encoding::Cl100kBase},
      {"gpt-4-turbo-2024-04-09", Encoding::Cl100kBase},
      {"gpt-4-32k", Encoding::Cl100kBase},
      {"gpt-3.5-turbo", Encoding::Cl100kBase},
      {"gpt-3.5-turbo-0125", Encoding::Cl100kBase},
      {"gpt-35-turbo", Encoding::Cl100kBase},
      {"text-embedding-ada-002", Encoding::Cl100kBase},
      {"text-embedding-3-small", Encoding::Cl100kBase},
      {"text-embedding-3-large", Encoding::Cl100kBase},
      // Wrappers: provider prefixes, '@' versions, fine-tunes, case.
      {"openai/gpt-4o", Encoding::O200kBase},
      {"azure/openai/gpt-4.1-mini", Encoding::O200kBase},
      {"gpt-4o@2024-08-06", Encoding::O200kBase},
      {"openai/gpt-4@latest", Encoding::Cl100kBase},
      {"ft:gpt-4o-mini-2024-07-18:acme::9abc", Encoding::O200kBase},
      {"ft:gpt-3.5-turbo-0125:acme:name:id", Encoding::Cl100kBase},
      {"GPT-4o", Encoding::O200kBase},
  };
  for (const auto& [model, enc] : known) {
    const auto got = encodingForModel(model);
    ASSERT_TRUE(got.has_value()) << model;
    EXPECT_EQ(*got, enc) << model;
  }
}

TEST(EncodingForModelTest, OtherFamiliesHaveNone) {
  const char* unknown[] = {"",
                           "claude-3-5-sonnet-20241022",
                           "anthropic/claude-sonnet-4",
                           "gemini-2.5-pro",
                           "models/gemini-1.5-flash",
                           "llama-3.1-70b-instruct",
                           "mistral-large",
                           "gpt-oss-120b",
                           "text-embedding-ada-001",
                           "text-davinci-003",
                           "gpt-3",
                           "gpt-40",
                           "o10",
                           "o2",
                           "gpt4o",
                           "davinci-002"};
  for (const char* model : unknown) {
    EXPECT_FALSE(encodingForModel(model).has_value()) << model;
  }
}

// --- estimate -------------------------------------------------------------------------------

TEST(EstimateTokensTest, BytesOverFourRoundedUp) {
  EXPECT_EQ(estimateTokens(""), 0u);
  EXPECT_EQ(estimateTokens("a"), 1u);
  EXPECT_EQ(estimateTokens("abcd"), 1u);
  EXPECT_EQ(estimateTokens("abcde"), 2u);
  EXPECT_EQ(estimateTokens("\xe4\xb8\x80\xe4\xba\x8c"), 2u);  // 6 UTF-8 bytes
  EXPECT_EQ(estimateTokens(std::string(20480, 'a')), 5120u);  // one letter: not base64
}

TEST(EstimateTokensTest, Base64PayloadsAreExcluded) {
  std::string payload;
  std::mt19937 rng(1);
  const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 4000; ++i) {
    payload += b64[rng() % 64];
  }
  const std::string prefix = "look: data:image/png;base64,";
  EXPECT_EQ(estimateTokens(prefix + payload + "=="), estimateTokens(prefix));
  // JSON-escaped slashes do not break the run.
  std::string escaped = payload;
  for (size_t i = 100; i < escaped.size(); i += 100) {
    escaped.insert(i, "\\/");
  }
  EXPECT_EQ(estimateTokens("\"" + escaped + "\""), 1u);  // just the two quotes
  // Short runs and single-class runs count as text.
  EXPECT_EQ(estimateTokens(payload.substr(0, 255)), 64u);
  std::string hex;
  for (int i = 0; i < 512; ++i) {
    hex += "0123456789abcdef"[rng() % 16];
  }
  EXPECT_EQ(estimateTokens(hex), 128u);
}

// Prints the estimate's error on the corpus (the numbers quoted in tokenizer.h) and checks
// the documented ±30% band for prose, code, JSON and (o200k) CJK.
TEST(EstimateTokensTest, ErrorOnTheCorpus) {
  std::printf("%-22s %8s %8s %8s %9s %9s\n", "file", "bytes", "o200k", "estimate", "err o200k",
              "err cl100k");
  for (const CorpusFile& f : corpus().files) {
    const double est = static_cast<double>(estimateTokens(f.text));
    const double o = static_cast<double>(f.expected[0].count);
    const double c = static_cast<double>(f.expected[1].count);
    std::printf("%-22s %8zu %8.0f %8.0f %+8.0f%% %+8.0f%%\n", f.name.c_str(), f.text.size(), o, est,
                100 * (est - o) / o, 100 * (est - c) / c);
    const char* banded[] = {
        "english_prose.txt", "code_cpp.txt", "code_misc.txt", "code_python.txt", "json_pretty.txt",
        "json_minified.txt", "markdown.txt", "chinese.txt",   "japanese.txt",    "korean.txt"};
    if (std::find(std::begin(banded), std::end(banded), f.name) != std::end(banded)) {
      EXPECT_LE(std::abs(est - o) / o, 0.31) << f.name;
    }
  }
}

// --- loading --------------------------------------------------------------------------------

TEST(TokenizersTest, CountUsesExactOrEstimate) {
  auto t = Tokenizers::load(kDataDir);
  ASSERT_TRUE(t.ok()) << t.error();
  const std::string text = "Hello, world! How many tokens is this?";
  EXPECT_EQ((*t)->count("gpt-4o", text), bpe(Encoding::O200kBase).count(text));
  EXPECT_EQ((*t)->count("gpt-4", text), bpe(Encoding::Cl100kBase).count(text));
  EXPECT_EQ((*t)->count("claude-sonnet-4", text), estimateTokens(text));
  EXPECT_EQ((*t)->forModel("gemini-2.5-pro"), nullptr);
  ASSERT_NE((*t)->forModel("o3"), nullptr);
  EXPECT_EQ((*t)->forModel("o3")->encoding(), Encoding::O200kBase);
}

TEST(TokenizersTest, DataDirLookupOrder) {
  EXPECT_EQ(*findDataDir("/explicit/dir"), "/explicit/dir");
  ASSERT_EQ(setenv("TOKENGATE_DATA_DIR", "/from/env", 1), 0);
  EXPECT_EQ(*findDataDir(""), "/from/env");
  EXPECT_EQ(*findDataDir("/explicit/dir"), "/explicit/dir");
  ASSERT_EQ(unsetenv("TOKENGATE_DATA_DIR"), 0);
  // The test binary lives in build/tests/, which has no data/ next to it.
  auto r = findDataDir("");
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error().find("TOKENGATE_DATA_DIR"), std::string::npos) << r.error();
  auto missing = Tokenizers::load("/nonexistent/dir");
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("/nonexistent/dir/o200k_base.tiktoken"), std::string::npos)
      << missing.error();
}

TEST(TokenizersTest, RejectsTheWrongOrAMalformedFile) {
  auto swapped = Bpe::load(Encoding::O200kBase, kDataDir + "/cl100k_base.tiktoken");
  ASSERT_FALSE(swapped.ok());
  EXPECT_NE(swapped.error().find("100256 tokens, but o200k_base has 199998"), std::string::npos)
      << swapped.error();
  EXPECT_FALSE(RankTable::parse("").ok());
  EXPECT_NE(RankTable::parse("IQ== 0\nnot-base64 1\n").error().find("line 2"), std::string::npos);
  EXPECT_NE(RankTable::parse("IQ== 0\nIg== 0\n").error().find("duplicate rank"), std::string::npos);
  EXPECT_NE(RankTable::parse("IQ== 1\n").error().find("rank 0 is missing"), std::string::npos);
  EXPECT_NE(RankTable::parse("IQ== 0\n").error().find("has no rank"), std::string::npos);
}

TEST(RankTableTest, FindsEveryTokenAndNothingElse) {
  for (Encoding e : kEncodings) {
    auto ranks = RankTable::parse(readFile(kDataDir + "/" + std::string(rankFileName(e))));
    ASSERT_TRUE(ranks.ok()) << ranks.error();
    for (uint32_t r = 0; r < ranks->size(); ++r) {
      ASSERT_EQ(ranks->find(ranks->bytesOf(r)), r);
    }
    EXPECT_EQ(ranks->find("this is surely not one token"), RankTable::kNoRank);
    EXPECT_EQ(ranks->find(std::string(300, 'a')), RankTable::kNoRank);
  }
}

TEST(PretokenizerTest, PatternsCompileWithUnicodeWhitespace) {
  for (Encoding e : kEncodings) {
    auto p = Pretokenizer::compile(e);
    ASSERT_TRUE(p.ok()) << p.error();
    std::vector<std::string> pieces;
    // NEL is whitespace, as in Rust's \s: with PCRE2's own \s the two NELs would be one
    // punctuation piece.
    const std::string text =
        "a\xc2\x85\xc2\x85"
        "b";
    size_t pos = 0;
    size_t start = 0;
    while ((*p)->next(text, pos, start)) {
      pieces.push_back(text.substr(start, pos - start));
    }
    EXPECT_EQ(pieces, (std::vector<std::string>{"a", "\xc2\x85",
                                                "\xc2\x85"
                                                "b"}))
        << encodingName(e);
  }
}

std::vector<std::string> splitWith(const Pretokenizer& p, std::string_view text) {
  std::vector<std::string> pieces;
  size_t pos = 0;
  size_t start = 0;
  while (p.next(text, pos, start)) {
    pieces.emplace_back(text.substr(start, pos - start));
  }
  return pieces;
}

// The hand-written ASCII matcher must split exactly like PCRE2 alone: random strings mixing
// the ASCII classes the patterns distinguish with non-ASCII letters, marks, digits,
// whitespace and symbols that force (or should force) the fallback.
TEST(PretokenizerTest, AsciiFastPathSplitsExactlyLikePcre2) {
  const std::vector<std::string> atoms = {
      "a",
      "b",
      "s",
      "t",
      "e",
      "l",
      "r",
      "v",
      "m",
      "d",
      "x",
      "A",
      "B",
      "S",
      "T",
      "E",
      "L",
      "R",
      "V",
      "M",
      "D",
      "Z",
      "0",
      "1",
      "7",
      " ",
      " ",
      " ",
      "\t",
      "\n",
      "\r",
      "\v",
      "\f",
      "'",
      "'",
      "/",
      "!",
      ".",
      "-",
      "_",
      "\"",
      "(",
      std::string(1, '\0'),
      "\x7f",
      "\x1b",
      "\xc3\xa9",          // é  Ll
      "\xc3\x89",          // É  Lu
      "\xc7\x85",          // ǅ  Lt
      "\xca\xb0",          // ʰ  Lm
      "\xe4\xb8\xad",      // 中 Lo
      "\xcc\x81",          // U+0301 combining acute, M
      "\xc5\xbf",          // ſ  LONG S (case-folds to s)
      "\xc2\xa0",          // NBSP, White_Space
      "\xc2\x85",          // NEL, White_Space
      "\xe3\x80\x80",      // U+3000 ideographic space
      "\xd9\xa3",          // ٣  Nd
      "\xe2\x91\xa0",      // ①  No
      "\xe2\x85\xab",      // Ⅻ  Nl
      "\xe2\x80\x94",      // —  Pd
      "\xe2\x82\xac",      // €  Sc
      "\xf0\x9f\x99\x82",  // 🙂 So
      "\xe2\x80\x8d",      // ZWJ, Cf
  };
  const size_t kAsciiAtoms = 45;  // atoms before the first non-ASCII one
  ASSERT_EQ(atoms[kAsciiAtoms], "\xc3\xa9");
  // TG_TOKENIZER_FUZZ_ITERATIONS / _SEED run a longer or different search by hand.
  const char* itersEnv = std::getenv("TG_TOKENIZER_FUZZ_ITERATIONS");
  const char* seedEnv = std::getenv("TG_TOKENIZER_FUZZ_SEED");
  const long iterations = itersEnv != nullptr ? std::atol(itersEnv) : 100000;
  std::mt19937 rng(seedEnv != nullptr ? std::atol(seedEnv) : 20241127);
  for (Encoding e : kEncodings) {
    auto fast = Pretokenizer::compile(e, true);
    auto slow = Pretokenizer::compile(e, false);
    ASSERT_TRUE(fast.ok() && slow.ok());
    for (const CorpusFile& f : corpus().files) {
      ASSERT_EQ(splitWith(**fast, f.text), splitWith(**slow, f.text)) << f.name;
    }
    for (long iter = 0; iter < iterations; ++iter) {
      std::string text;
      const size_t len = 1 + rng() % 24;
      const bool asciiOnly = iter % 2 == 0;
      for (size_t i = 0; i < len; ++i) {
        text += atoms[rng() % (asciiOnly ? kAsciiAtoms : atoms.size())];
      }
      const auto want = splitWith(**slow, text);
      const auto got = splitWith(**fast, text);
      ASSERT_EQ(got, want) << encodingName(e) << " text: " << ::testing::PrintToString(text);
    }
  }
}

}  // namespace
}  // namespace tg::tokenizer
