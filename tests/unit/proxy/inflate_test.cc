// Inflater: gzip and deflate decoded on the side, in any split, with a cap on output.
#include "proxy/inflate.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

namespace tg::proxy {
namespace {

std::string compress(const std::string& in, int windowBits) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string text() {
  std::string s;
  for (int i = 0; i < 2000; ++i) {
    s += "data: {\"choices\":[{\"delta\":{\"content\":\" word" + std::to_string(i) + "\"}}]}\n\n";
  }
  return s;
}

TEST(InflaterTest, GzipWholeAndInRandomSplits) {
  std::string plain = text();
  std::string gz = compress(plain, 16 + MAX_WBITS);
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    auto inf = Inflater::create("gzip", 1 << 24);
    ASSERT_NE(inf, nullptr);
    std::string out;
    size_t pos = 0;
    while (pos < gz.size()) {
      size_t n = round == 0 ? gz.size() : 1 + rng() % 97;
      n = std::min(n, gz.size() - pos);
      ASSERT_TRUE(inf->feed(std::string_view(gz).substr(pos, n), out));
      pos += n;
    }
    EXPECT_EQ(out, plain);
  }
}

TEST(InflaterTest, DeflateZlibFormat) {
  std::string plain = text();
  auto inf = Inflater::create("deflate", 1 << 24);
  std::string out;
  ASSERT_TRUE(inf->feed(compress(plain, MAX_WBITS), out));
  EXPECT_EQ(out, plain);
}

TEST(InflaterTest, UnknownEncodingIsNotHandled) {
  EXPECT_EQ(Inflater::create("br", 100), nullptr);
  EXPECT_EQ(Inflater::create("identity", 100), nullptr);
}

TEST(InflaterTest, GarbageFailsWithoutCrashing) {
  auto inf = Inflater::create("gzip", 1 << 20);
  std::string out;
  EXPECT_FALSE(inf->feed("this is not gzip at all", out));
  EXPECT_TRUE(inf->failed());
}

TEST(InflaterTest, OutputIsCapped) {
  std::string zeros(10 << 20, '\0');  // 10 MiB of zeros compress to ~10 KiB
  auto inf = Inflater::create("gzip", 1 << 20);
  std::string out;
  EXPECT_FALSE(inf->feed(compress(zeros, 16 + MAX_WBITS), out));
  EXPECT_TRUE(inf->failed());
  EXPECT_LE(out.size(), size_t{1} << 20);
}

}  // namespace
}  // namespace tg::proxy
