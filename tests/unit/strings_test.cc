// core/strings.h: the ASCII helpers used for HTTP field names and comma-separated lists.

#include "core/strings.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

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
