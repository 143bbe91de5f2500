// UsageExtractor's byte scan for text-only documents (deferIfTextOnly): every word that makes
// a document more than text is found at every offset and alignment (the SIMD blocks, their
// overlapping last block and the short-input path), and a `"usage": null` member is located.

#include "usage/extract.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace tg::usage {
namespace {

bool textOnly(std::string_view json, size_t* nullUsage = nullptr) {
  UsageExtractor x(true);
  return x.deferIfTextOnly(json, "message", nullUsage);
}

TEST(UsageExtractorScan, FindsEveryWordAtEveryOffset) {
  for (std::string_view word : {"usage", "timings", "error", "eval_count", "failed", "\\u00"}) {
    for (size_t pre = 0; pre < 80; ++pre) {
      for (size_t post = 0; post < 40; post += 3) {
        std::string json = "{\"c\":\"" + std::string(pre, 'x') + std::string(word) +
                           std::string(post, 'y') + "\"}";
        EXPECT_FALSE(textOnly(json)) << word << " pre=" << pre << " post=" << post;
        // The same bytes without the word are text.
        std::string plain = "{\"c\":\"" + std::string(pre, 'x') + std::string(post, 'y') + "\"}";
        EXPECT_TRUE(textOnly(plain)) << pre << " " << post;
      }
    }
  }
  // A bare word as the whole input, and near-misses of each anchor pair.
  EXPECT_FALSE(textOnly("usage"));
  EXPECT_FALSE(textOnly("\\u"));
  EXPECT_TRUE(textOnly("usag sage uage timing errr eval_coun faile \\n"));
}

TEST(UsageExtractorScan, LocatesTheLastNullUsageMember) {
  for (size_t pre = 0; pre < 90; ++pre) {
    std::string head = "{\"c\":\"" + std::string(pre, 'x') + "\"";
    std::string json = head + ",\"usage\" : null}";
    size_t at = 0;
    ASSERT_TRUE(textOnly(json, &at)) << pre;
    EXPECT_EQ(at, head.size() + 1) << pre;
    // Two of them: the last one.
    std::string two = "{\"usage\":null,\"c\":\"" + std::string(pre, 'x') + "\",\"usage\":null}";
    ASSERT_TRUE(textOnly(two, &at)) << pre;
    EXPECT_EQ(at, two.rfind("\"usage\"")) << pre;
    // Without one: npos.
    ASSERT_TRUE(textOnly(head + "}", &at));
    EXPECT_EQ(at, std::string_view::npos);
    // A non-null usage is not text.
    EXPECT_FALSE(textOnly(head + ",\"usage\":{}}")) << pre;
  }
}

}  // namespace
}  // namespace tg::usage
