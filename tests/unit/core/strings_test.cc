// core/strings.h: the ASCII helpers used for HTTP field names and comma-separated lists.

#include "core/strings.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"

namespace tg::core {
namespace {

using Pieces = std::vector<std::string_view>;

TEST(StringsTest, AsciiLowerChangesOnlyUppercaseLetters) {
  EXPECT_EQ(asciiLower('A'), 'a');
  EXPECT_EQ(asciiLower('Z'), 'z');
  EXPECT_EQ(asciiLower('a'), 'a');
  EXPECT_EQ(asciiLower('0'), '0');
  EXPECT_EQ(asciiLower('@'), '@');        // one below 'A'
  EXPECT_EQ(asciiLower('['), '[');        // one above 'Z'
  EXPECT_EQ(asciiLower('\xC4'), '\xC4');  // non-ASCII bytes are left alone
}

TEST(StringsTest, IequalsIgnoresAsciiCaseOnly) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("content-length", "content-lengt"));
  EXPECT_FALSE(iequals("a", "b"));
  // '[' and '{' differ by 32 like a case pair but are not letters.
  EXPECT_FALSE(iequals("[", "{"));
  EXPECT_FALSE(iequals("\xC4", "\xE4"));
}

TEST(StringsTest, IstartsWithMatchesCaseInsensitivePrefix) {
  EXPECT_TRUE(istartsWith("X-TokenGate-Key", "x-tokengate-"));
  EXPECT_TRUE(istartsWith("abc", ""));
  EXPECT_TRUE(istartsWith("abc", "ABC"));
  EXPECT_FALSE(istartsWith("ab", "abc"));
  EXPECT_FALSE(istartsWith("x-tokengat", "x-tokengate-"));
}

TEST(StringsTest, ToLowerCopiesAndLowercases) {
  EXPECT_EQ(toLower("Hello-World 42"), "hello-world 42");
  EXPECT_EQ(toLower(""), "");
}

TEST(StringsTest, TrimOwsStripsSpacesAndTabsOnly) {
  EXPECT_EQ(trimOws("  \t value \t "), "value");
  EXPECT_EQ(trimOws("value"), "value");
  EXPECT_EQ(trimOws(" \t "), "");
  EXPECT_EQ(trimOws(""), "");
  EXPECT_EQ(trimOws(" a b "), "a b");            // inner whitespace is kept
  EXPECT_EQ(trimOws("\r\nx\r\n"), "\r\nx\r\n");  // CR/LF are not OWS
}

TEST(StringsTest, SplitListTrimsAndDropsEmptyElements) {
  EXPECT_EQ(splitList("a, b ,c"), (Pieces{"a", "b", "c"}));
  EXPECT_EQ(splitList(" , ,a,, ,"), (Pieces{"a"}));
  EXPECT_EQ(splitList(""), Pieces{});
  EXPECT_EQ(splitList("single"), (Pieces{"single"}));
  EXPECT_EQ(splitList("\tkeep-alive ,\tUpgrade\t"), (Pieces{"keep-alive", "Upgrade"}));
}

TEST(StringsTest, SplitListHonoursCustomSeparator) {
  EXPECT_EQ(splitList("a;b; c", ';'), (Pieces{"a", "b", "c"}));
  EXPECT_EQ(splitList("a,b", ';'), (Pieces{"a,b"}));
}

}  // namespace
}  // namespace tg::core

// core/log.h: the access log's formatting helpers (its hot path).
TEST(JsonEscape, PlainRunsPassAndSpecialsAreEscaped) {
  std::string out;
  tg::core::appendJsonEscaped(out, "plain");
  EXPECT_EQ(out, "plain");
  out.clear();
  tg::core::appendJsonEscaped(out, std::string_view("a\"b\\c\nd\re\tf\x01g\x1f", 14));
  EXPECT_EQ(out, "a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001f");
  out.clear();
  tg::core::appendJsonEscaped(out, "\xc3\xa9\"");  // UTF-8 passes untouched
  EXPECT_EQ(out, "\xc3\xa9\\\"");
}

TEST(IsoTime, MillisecondsAndTheCachedSecondStayExact) {
  using namespace std::chrono;
  const system_clock::time_point t{milliseconds(1764261674123)};  // 2025-11-27T16:41:14.123Z
  std::string out;
  tg::core::appendIsoTime(out, t);
  EXPECT_EQ(out, "2025-11-27T16:41:14.123Z");
  out.clear();
  tg::core::appendIsoTime(out, t + milliseconds(877));  // the next second: the cache moves on
  EXPECT_EQ(out, "2025-11-27T16:41:15.000Z");
  out.clear();
  tg::core::appendIsoTime(out, t - milliseconds(124));  // back again
  EXPECT_EQ(out, "2025-11-27T16:41:13.999Z");
  out.clear();
  tg::core::appendIsoTime(out, system_clock::time_point{milliseconds(7)});
  EXPECT_EQ(out, "1970-01-01T00:00:00.007Z");
}
