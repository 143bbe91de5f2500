// RESP: command encoding and hiredis's reader building owned Replies, whole and byte by byte.
#include "redis/resp.h"

#include <gtest/gtest.h>

#include <string>

namespace tg::redis {
namespace {

using Type = Reply::Type;

TEST(AppendCommand, ArrayOfBulkStrings) {
  std::string out;
  appendCommand(out, std::vector<std::string>{"SET", "key", "a\r\nb"});
  EXPECT_EQ(out, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$4\r\na\r\nb\r\n");
  out.clear();
  appendCommand(out, {"PING"});
  EXPECT_EQ(out, "*1\r\n$4\r\nPING\r\n");
  out.clear();
  appendCommand(out, {"GET", ""});
  EXPECT_EQ(out, "*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
  out.clear();
  std::string binary("\0\xff", 2);
  appendArrayHeader(out, 1);
  appendBulk(out, binary);
  EXPECT_EQ(out, std::string("*1\r\n$2\r\n\0\xff\r\n", 12));
}

// Parses `bytes` fed whole, then fed one byte at a time; both must give the same replies.
std::vector<Reply> parseAll(const std::string& bytes, bool byteByByte) {
  RespReader reader;
  std::vector<Reply> out;
  auto drain = [&] {
    for (;;) {
      Reply r;
      auto res = reader.next(r);
      if (res != RespReader::Result::Reply) {
        EXPECT_EQ(res, RespReader::Result::NeedMore) << reader.error();
        return;
      }
      out.push_back(std::move(r));
    }
  };
  if (byteByByte) {
    for (char c : bytes) {
      EXPECT_TRUE(reader.feed(&c, 1));
      drain();
    }
  } else {
    EXPECT_TRUE(reader.feed(bytes.data(), bytes.size()));
    drain();
  }
  return out;
}

class RespReaderSplit : public ::testing::TestWithParam<bool> {};

TEST_P(RespReaderSplit, EveryRespTwoType) {
  std::string bytes =
      "+OK\r\n"
      "-ERR wrong type\r\n"
      ":-42\r\n"
      "$5\r\nhello\r\n"
      "$0\r\n\r\n"
      "$-1\r\n"
      "*-1\r\n"
      "*0\r\n"
      "*3\r\n:1\r\n$3\r\nfoo\r\n*2\r\n+a\r\n$-1\r\n"
      "$4\r\na\r\nb\r\n";
  auto replies = parseAll(bytes, GetParam());
  ASSERT_EQ(replies.size(), 10u);
  EXPECT_EQ(replies[0].type, Type::Status);
  EXPECT_EQ(replies[0].str, "OK");
  EXPECT_EQ(replies[1].type, Type::Error);
  EXPECT_TRUE(replies[1].isError());
  EXPECT_EQ(replies[1].str, "ERR wrong type");
  EXPECT_EQ(replies[2].type, Type::Integer);
  EXPECT_EQ(replies[2].integer, -42);
  EXPECT_EQ(replies[3].type, Type::String);
  EXPECT_EQ(replies[3].str, "hello");
  EXPECT_EQ(replies[4].type, Type::String);
  EXPECT_EQ(replies[4].str, "");
  EXPECT_EQ(replies[5].type, Type::Nil);
  EXPECT_EQ(replies[6].type, Type::Nil);
  EXPECT_EQ(replies[7].type, Type::Array);
  EXPECT_TRUE(replies[7].elements.empty());
  const Reply& a = replies[8];
  ASSERT_EQ(a.type, Type::Array);
  ASSERT_EQ(a.elements.size(), 3u);
  EXPECT_EQ(a.elements[0].type, Type::Integer);
  EXPECT_EQ(a.elements[0].integer, 1);
  EXPECT_EQ(a.elements[1].str, "foo");
  ASSERT_EQ(a.elements[2].type, Type::Array);
  ASSERT_EQ(a.elements[2].elements.size(), 2u);
  EXPECT_EQ(a.elements[2].elements[0].type, Type::Status);
  EXPECT_EQ(a.elements[2].elements[0].str, "a");
  EXPECT_EQ(a.elements[2].elements[1].type, Type::Nil);
  EXPECT_EQ(replies[9].str, "a\r\nb");  // binary-safe bulk
}

INSTANTIATE_TEST_SUITE_P(WholeAndByteByByte, RespReaderSplit, ::testing::Bool());

TEST(RespReader, LargeIntegersAndBulk) {
  std::string big(100000, 'x');
  std::string bytes = ":9223372036854775807\r\n$100000\r\n" + big + "\r\n";
  auto replies = parseAll(bytes, false);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].integer, INT64_MAX);
  EXPECT_EQ(replies[1].str, big);
}

TEST(RespReader, ClusterSlotsShape) {
  std::string bytes =
      "*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n";
  auto replies = parseAll(bytes, true);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].elements[0].elements[2].elements[0].str, "127.0.0.1");
  EXPECT_EQ(replies[0].elements[0].elements[2].elements[1].integer, 7000);
}

TEST(RespReader, GarbageIsAProtocolError) {
  RespReader reader;
  std::string bytes = "HTTP/1.1 400 Bad Request\r\n\r\n";
  reader.feed(bytes.data(), bytes.size());
  Reply r;
  EXPECT_EQ(reader.next(r), RespReader::Result::Error);
  EXPECT_NE(reader.error().find("Protocol error"), std::string_view::npos) << reader.error();
}

TEST(RespReader, ErrorInsideAnArrayFreesThePartialReply) {
  // An array whose second element is garbage: the partial tree is freed by hiredis (ASan).
  RespReader reader;
  std::string bytes = "*3\r\n$3\r\nfoo\r\n!oops\r\n";
  reader.feed(bytes.data(), bytes.size());
  Reply r;
  EXPECT_EQ(reader.next(r), RespReader::Result::Error);
}

TEST(RespReader, IncompleteReplyNeedsMore) {
  RespReader reader;
  std::string bytes = "*2\r\n$3\r\nfoo\r\n";
  reader.feed(bytes.data(), bytes.size());
  Reply r;
  EXPECT_EQ(reader.next(r), RespReader::Result::NeedMore);
  std::string rest = ":7\r\n";
  reader.feed(rest.data(), rest.size());
  ASSERT_EQ(reader.next(r), RespReader::Result::Reply);
  ASSERT_EQ(r.elements.size(), 2u);
  EXPECT_EQ(r.elements[1].integer, 7);
}

}  // namespace
}  // namespace tg::redis
