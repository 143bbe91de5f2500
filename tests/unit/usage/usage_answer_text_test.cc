// AnswerTextScanner: the answer text of a JSON body, fed in any split, complete or cut.

#include "usage/answer_text.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>

#include "samples.h"

namespace tg::usage {
namespace {

using samples::splitBytes;
using samples::splitRandom;

std::string scanWhole(std::string_view body) {
  AnswerTextScanner s;
  std::string out;
  s.feed(body, out);
  return out;
}

// The text of `body` scanned whole; every split must give the same.
std::string scan(std::string_view body) {
  std::string whole = scanWhole(body);
  AnswerTextScanner bytes;
  std::string out;
  for (std::string_view p : splitBytes(body)) {
    bytes.feed(p, out);
  }
  EXPECT_EQ(out, whole) << "byte by byte";
  std::mt19937 rng(11);
  for (int i = 0; i < 10; ++i) {
    AnswerTextScanner split;
    std::string o;
    for (std::string_view p : splitRandom(body, rng, 7)) {
      split.feed(p, o);
    }
    EXPECT_EQ(o, whole) << "split " << i;
  }
  return whole;
}

TEST(AnswerText, OpenAIChatContentOnly) {
  EXPECT_EQ(scan(samples::kOpenAIChatJson), "Hi!");
  EXPECT_EQ(scan(samples::kAnthropicJson), "Hi!");
  EXPECT_EQ(scan(samples::kGeminiJson), "Hi!");
}

TEST(AnswerText, EscapesAndUnicode) {
  EXPECT_EQ(scan(R"({"response":"tab\there \"q\" back\\slash \/ \b\f\r\n"})"),
            "tab\there \"q\" back\\slash / \b\f\r\n");
  EXPECT_EQ(scan(R"({"response":"\u0041\u00E9\u20ac\uD83D\uDE00"})"),
            "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  // Lone surrogates become U+FFFD; a high one followed by text, by another escape, or by the
  // end of the string.
  EXPECT_EQ(scan(R"({"response":"\ud83dx\ude00\ud83d\n\ud83d"})"),
            "\xEF\xBF\xBDx\xEF\xBF\xBD\xEF\xBF\xBD\n\xEF\xBF\xBD");
  // Broken \u escapes are dropped, the rest read as text.
  EXPECT_EQ(scan(R"({"response":"a\u12zb\u1"})"), "azb");
  // Raw UTF-8 passes through.
  EXPECT_EQ(scan("{\"response\":\"caf\xC3\xA9\"}"), "caf\xC3\xA9");
}

TEST(AnswerText, OnlyStringsAtTheKnownPaths) {
  EXPECT_EQ(scan(R"({"response":null,"thinking":12,"text":"no","choices":[{"text":["no"]}]})"),
            "");
  // Keys are matched whole, escaped keys are not names we know.
  EXPECT_EQ(scan(R"({"responses":"no","respons":"no","respons\u0065":"no","response":"yes"})"),
            "yes");
  // Brackets and quotes inside strings do not move the scanner.
  EXPECT_EQ(
      scan(R"({"id":"{[\"]}","choices":[{"message":{"role":"]}\\","content":"ok"}}],"x":"}"})"),
      "ok");
  // A long key is not a known one.
  EXPECT_EQ(scan(R"({"contentcontentcontentcontentcontent":"no","message":{"content":"a"}})"),
            "a");
}

TEST(AnswerText, CapturedObjectsKeepTheirStrings) {
  EXPECT_EQ(scan(R"({"content":[{"type":"tool_use","input":{"q" : "a } \" ]", "n" : [1, {"x":null}]}}]})"),
            R"({"q":"a } \" ]","n":[1,{"x":null}]})");
}

TEST(AnswerText, ConcatenatedDocumentsAndRootArrays) {
  EXPECT_EQ(scan(R"({"response":"a"} {"response":"b"})"), "ab");
  EXPECT_EQ(scan(R"([{"response":"a"},{"candidates":[{"content":{"parts":[{"text":"b"}]}}]}])"),
            "ab");
}

TEST(AnswerText, CutBodiesGiveWhatWasReceived) {
  std::string body = R"({"choices":[{"message":{"content":"one two three"}}]})";
  for (size_t n = 0; n <= body.size(); ++n) {
    std::string got = scanWhole(body.substr(0, n));
    EXPECT_TRUE(std::string_view("one two three").starts_with(got)) << n << ": " << got;
  }
  EXPECT_EQ(scanWhole(body.substr(0, body.find("three"))), "one two ");
  // Cut inside an escape: the escape is not emitted half.
  EXPECT_EQ(scanWhole(R"({"response":"a\u00)"), "a");
}

TEST(AnswerText, NonJsonIsTextAndDepthIsBounded) {
  EXPECT_EQ(scan("  plain text {\"response\":\"x\"}"), "plain text {\"response\":\"x\"}");
  EXPECT_EQ(scan("\xEF\xBB\xBF{\"response\":\"x\"}"), "x");
  std::string deep = R"({"a":)" + std::string(5000, '[') + R"("response")" +
                     std::string(5000, ']') + R"(,"response":"top"})";
  EXPECT_EQ(scan(deep), "top");
  // Stray closers between documents are skipped; a body starting with one is not JSON.
  EXPECT_EQ(scan(R"({"response":"a"}]]}{"response":"b"})"), "ab");
  EXPECT_EQ(scan(R"(]]}{"response":"a"})"), R"(]]}{"response":"a"})");
}

}  // namespace
}  // namespace tg::usage
