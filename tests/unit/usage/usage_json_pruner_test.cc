// JsonPruner: unit boundaries in any split, bounded pruned copies that stay valid JSON.

#include "usage/json_pruner.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <random>
#include <string>
#include <vector>

#include "samples.h"

namespace tg::usage {
namespace {

std::vector<std::string> units(JsonPruner::Mode mode, const std::vector<std::string_view>& pieces,
                               JsonPruner::Limits limits = {}) {
  JsonPruner p(mode, limits);
  std::vector<std::string> out;
  for (std::string_view in : pieces) {
    while (!in.empty()) {
      size_t n = p.feed(in);
      EXPECT_GT(n, 0u);
      in.remove_prefix(n);
      if (p.unitReady()) {
        out.emplace_back(p.unit());
      }
    }
  }
  return out;
}

std::vector<std::string> units(JsonPruner::Mode mode, std::string_view s,
                               JsonPruner::Limits limits = {}) {
  return units(mode, std::vector<std::string_view>{s}, limits);
}

bool validJson(const std::string& s) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  return parser.parse(s).get(e) == simdjson::SUCCESS;
}

TEST(JsonPruner, SequenceMinifiesEachTopLevelDocument) {
  EXPECT_EQ(
      units(JsonPruner::Mode::Sequence, " {\"a\" : [1, 2, {\"b\":\"x y\"}]}\n{}\n[3]\n7 \"s\" "),
      (std::vector<std::string>{R"({"a":[1,2,{"b":"x y"}]})", "{}", "[3]"}));
}

TEST(JsonPruner, StringsWithBracketsAndEscapes) {
  std::string doc = R"({"t":"a]}\"[{\\","u":"\\"})";
  EXPECT_EQ(units(JsonPruner::Mode::Sequence, doc), (std::vector<std::string>{doc}));
}

TEST(JsonPruner, GeminiArrayElementsInAnySplit) {
  auto whole = units(JsonPruner::Mode::ArrayElements, samples::kGeminiArray);
  ASSERT_EQ(whole.size(), 2u);
  for (const auto& u : whole) {
    EXPECT_TRUE(validJson(u)) << u;
    EXPECT_EQ(u.front(), '{');
  }
  EXPECT_EQ(units(JsonPruner::Mode::ArrayElements, samples::splitBytes(samples::kGeminiArray)),
            whole);
  std::mt19937 rng(3);
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(
        units(JsonPruner::Mode::ArrayElements, samples::splitRandom(samples::kGeminiArray, rng, 9)),
        whole);
  }
}

TEST(JsonPruner, ArrayModeTakesABareObjectAsOneUnit) {
  EXPECT_EQ(units(JsonPruner::Mode::ArrayElements, R"({"error":{"code":429}})"),
            (std::vector<std::string>{R"({"error":{"code":429}})"}));
  EXPECT_EQ(units(JsonPruner::Mode::ArrayElements, R"([1, "x", {"a":1}, [2]])"),
            (std::vector<std::string>{R"({"a":1})", "[2]"}));
}

TEST(JsonPruner, LargeValuesArePrunedAndTheResultStaysValid) {
  JsonPruner::Limits limits;
  limits.maxValueBytes = 32;
  std::string doc = R"({"s":")" + std::string(100, 'x') + R"(","a":[)" + std::string(50, '1') +
                    R"(,{"k":"v"}],"o":{"deep":{"deeper":")" + std::string(40, 'y') +
                    R"("}},"usage":{"prompt_tokens":5}})";
  auto u = units(JsonPruner::Mode::Sequence, doc, limits);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0], R"({"s":"","a":[],"o":{"deep":{"deeper":""}},"usage":{"prompt_tokens":5}})");
  EXPECT_TRUE(validJson(u[0]));
  // The same in a byte-by-byte feed.
  EXPECT_EQ(units(JsonPruner::Mode::Sequence, samples::splitBytes(doc), limits), u);
}

TEST(JsonPruner, ManySmallChildrenCollapseTheirParent) {
  JsonPruner::Limits limits;
  limits.maxValueBytes = 64;
  std::string doc = R"({"data":[)";
  for (int i = 0; i < 100; ++i) {
    doc += R"({"i":1},)";
  }
  doc += R"({"i":2}],"usage":{"total_tokens":1}})";
  EXPECT_EQ(units(JsonPruner::Mode::Sequence, doc, limits),
            (std::vector<std::string>{R"({"data":[],"usage":{"total_tokens":1}})"}));
}

TEST(JsonPruner, TooDeepOrTooLargeUnitsAreDropped) {
  JsonPruner::Limits limits;
  limits.maxDepth = 4;
  JsonPruner p(JsonPruner::Mode::Sequence, limits);
  std::string deep = "[[[[[[1]]]]]]{\"ok\":1}";
  size_t n = p.feed(deep);
  EXPECT_TRUE(p.unitReady());
  EXPECT_EQ(p.unit(), "{\"ok\":1}");
  EXPECT_EQ(n, deep.size());
  EXPECT_EQ(p.unitsDropped(), 1u);

  JsonPruner::Limits small;
  small.maxValueBytes = 8;
  small.maxUnitBytes = 30;
  std::string wide = "{";
  for (int i = 0; i < 20; ++i) {
    wide += "\"k\":1,";
  }
  wide += "\"z\":0}";
  EXPECT_TRUE(units(JsonPruner::Mode::Sequence, wide, small).empty());
}

TEST(JsonPruner, CutUnitIsNeverReported) {
  JsonPruner p(JsonPruner::Mode::Sequence);
  p.feed(R"({"usage":{"prompt_tokens":1})");
  EXPECT_FALSE(p.unitReady());
  EXPECT_TRUE(p.insideUnit());
}

TEST(JsonPruner, StrayClosersAndGarbageDoNotBreakLaterUnits) {
  EXPECT_EQ(units(JsonPruner::Mode::Sequence, "]]}} garbage {\"a\":1}"),
            (std::vector<std::string>{R"({"a":1})"}));
}

}  // namespace
}  // namespace tg::usage
