// Tokenizer throughput on the exactness corpus (tests/tokenizer-corpus/texts, concatenated in
// name order, the same bytes compare.mjs feeds npm tiktoken), plus the cost of one 2 KB chat
// prompt, the estimate, long adversarial pieces and loading the rank files.
//   build/bench/tokenizer_bench                       all benchmarks
//   node bench/tokenizer/compare.mjs build            side by side with npm tiktoken (WASM)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace {

using namespace tg::tokenizer;

const std::string kDataDir = TG_TOKENIZER_DATA_DIR;
const std::string kCorpusDir = TG_TOKENIZER_CORPUS_DIR;

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// All corpus texts in name order; `natural` leaves out the two synthetic one-piece files.
std::string corpus(bool natural) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(kCorpusDir + "/texts")) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 4 && name.ends_with(".txt")) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  std::string all;
  for (const std::string& n : names) {
    if (natural && (n == "letter_run_20k.txt" || n == "punctuation_run.txt")) {
      continue;
    }
    all += readFile(kCorpusDir + "/texts/" + n);
  }
  return all;
}

// A typical 2 KB chat prompt: instructions, a question with some code, and a JSON snippet.
std::string chatPrompt() {
  const std::string prose = readFile(kCorpusDir + "/texts/english_prose.txt");
  const std::string code = readFile(kCorpusDir + "/texts/code_python.txt");
  std::string p =
      "You are a helpful assistant. Summarise the story below in three sentences, "
      "then explain what the following Python function does.\n\n";
  p += prose.substr(0, 1200) + "\n\n```python\n" + code.substr(700, 600) + "\n```\n";
  return p.substr(0, 2048);
}

const Tokenizers& tokenizers() {
  static const std::unique_ptr<Tokenizers> t = [] {
    auto r = Tokenizers::load(kDataDir);
    if (!r) {
      std::fprintf(stderr, "%s\n", r.error().c_str());
      std::exit(1);
    }
    return std::move(r).value();
  }();
  return *t;
}

void countText(benchmark::State& state, const std::string& text, Encoding e) {
  const Bpe& bpe = tokenizers().get(e);
  size_t tokens = 0;
  for (auto _ : state) {
    tokens = bpe.count(text);
    benchmark::DoNotOptimize(tokens);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["bytes"] = static_cast<double>(text.size());
}

void BM_CountCorpus(benchmark::State& state) {
  static const std::string text = corpus(false);
  countText(state, text, static_cast<Encoding>(state.range(0)));
}
void BM_CountNaturalText(benchmark::State& state) {
  static const std::string text = corpus(true);
  countText(state, text, static_cast<Encoding>(state.range(0)));
}
void BM_EncodeCorpus(benchmark::State& state) {
  static const std::string text = corpus(false);
  const Bpe& bpe = tokenizers().get(static_cast<Encoding>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(bpe.encode(text));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
void BM_Count2KPrompt(benchmark::State& state) {
  static const std::string text = chatPrompt();
  countText(state, text, static_cast<Encoding>(state.range(0)));
}
void BM_CountLetterRun1MB(benchmark::State& state) {
  static const std::string text(1 << 20, 'a');
  countText(state, text, static_cast<Encoding>(state.range(0)));
}
void BM_CountPunctRun1MB(benchmark::State& state) {
  static const std::string text(1 << 20, '!');
  countText(state, text, static_cast<Encoding>(state.range(0)));
}
void BM_EstimateCorpus(benchmark::State& state) {
  static const std::string text = corpus(false);
  for (auto _ : state) {
    benchmark::DoNotOptimize(estimateTokens(text));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
void BM_LoadRankFile(benchmark::State& state) {
  const auto e = static_cast<Encoding>(state.range(0));
  for (auto _ : state) {
    auto bpe = Bpe::load(e, kDataDir + "/" + std::string(rankFileName(e)));
    benchmark::DoNotOptimize(bpe.ok());
  }
}

}  // namespace

// Arg 0 = o200k_base, 1 = cl100k_base.
BENCHMARK(BM_CountCorpus)->ArgName("enc")->Arg(0)->Arg(1)->MinTime(1.0);
BENCHMARK(BM_CountNaturalText)->ArgName("enc")->Arg(0)->Arg(1)->MinTime(1.0);
BENCHMARK(BM_EncodeCorpus)->ArgName("enc")->Arg(0)->Arg(1);
BENCHMARK(BM_Count2KPrompt)->ArgName("enc")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CountLetterRun1MB)->ArgName("enc")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CountPunctRun1MB)->ArgName("enc")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EstimateCorpus);
BENCHMARK(BM_LoadRankFile)->ArgName("enc")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
