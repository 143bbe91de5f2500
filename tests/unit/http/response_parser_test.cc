// http/response_reader.h: ResponseParser fed whole responses. The split and byte-by-byte
// variants of the same cases are in response_parser_split_test.cc.

#include <gtest/gtest.h>

#include <string>

#include "http/response_reader.h"
#include "response_parser_harness.h"

namespace tg::http {
namespace {

using testing::parseWhole;
using Fields = std::vector<std::pair<std::string, std::string>>;

TEST(ResponseParserTest, ContentLengthBody) {
  auto o = parseWhole(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
      "{\"ok\":true}");
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(o.reason, "OK");
  EXPECT_EQ(o.version, 11u);
  EXPECT_EQ(o.headers, (Fields{{"Content-Type", "application/json"}, {"Content-Length", "11"}}));
  EXPECT_EQ(o.contentLength, 11u);
  EXPECT_FALSE(o.chunked);
  EXPECT_TRUE(o.keepAlive);
  EXPECT_FALSE(o.closeDelimited);
  EXPECT_EQ(o.body, "{\"ok\":true}");
  EXPECT_TRUE(o.done);
  EXPECT_TRUE(o.reusable);
  EXPECT_EQ(o.leftover, "");
}

TEST(ResponseParserTest, ChunkedBodyIsDechunked) {
  auto o = parseWhole(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\nA\r\n 012345678\r\n0\r\nX-Trailer: t\r\n\r\n");
  EXPECT_EQ(o.error, "");
  EXPECT_TRUE(o.chunked);
  EXPECT_EQ(o.contentLength, std::nullopt);
  EXPECT_EQ(o.body, "hello world 012345678");
  EXPECT_TRUE(o.done);
  EXPECT_TRUE(o.reusable);
}

// Regression (was a bug in src/http/response_reader.cc Impl::on_field_impl): Beast reports chunked trailer fields
// through on_field_impl too, so they are appended to head.headers. When the whole response
// arrives in one read, the session's buildClientResponseHead then sends the trailer to the
// client as a header field (RFC 9110 §6.5.1: trailers must not be merged into the header
// section); when it arrives later it is dropped, so the client's head depends on TCP
// segmentation. Appending after the head also grows head.arena past the size reserved for
// the head, which can reallocate it and leave every earlier header view dangling.
// Input: "...Transfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: t\r\n\r\n" in one put().
// Expected: headers [Transfer-Encoding]; actual: [Transfer-Encoding, X-Trailer].
TEST(ResponseParserTest, TrailerFieldsAreNotMergedIntoHead) {
  auto o = parseWhole(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\nhi\r\n0\r\nX-Trailer: t\r\n\r\n");
  EXPECT_EQ(o.error, "");
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.body, "hi");
  EXPECT_EQ(o.headers, (Fields{{"Transfer-Encoding", "chunked"}}));
}

TEST(ResponseParserTest, ChunkedHeadersArePreserved) {
  auto o = parseWhole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(o.headers, (Fields{{"Transfer-Encoding", "chunked"}, {"X-A", "1"}}));
  EXPECT_EQ(o.body, "");
  EXPECT_TRUE(o.done);
}

TEST(ResponseParserTest, CloseDelimitedBodyEndsAtEof) {
  std::string wire = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n";
  auto open = parseWhole(wire, false, /*eof=*/false);
  EXPECT_EQ(open.error, "");
  EXPECT_TRUE(open.closeDelimited);
  EXPECT_FALSE(open.done);
  EXPECT_EQ(open.body, "data: 1\n\n");

  auto closed = parseWhole(wire, false, /*eof=*/true);
  EXPECT_EQ(closed.error, "");
  EXPECT_TRUE(closed.done);
  EXPECT_EQ(closed.body, "data: 1\n\n");
  EXPECT_FALSE(closed.reusable);  // the connection is gone
}

TEST(ResponseParserTest, EofBeforeContentLengthIsReachedIsAnError) {
  auto o = parseWhole("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", false, true);
  EXPECT_NE(o.error, "");
  EXPECT_FALSE(o.done);
  EXPECT_FALSE(o.reusable);
  EXPECT_EQ(o.body, "short");
}

TEST(ResponseParserTest, EofInsideChunkedBodyIsAnError) {
  auto o = parseWhole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", false, true);
  EXPECT_NE(o.error, "");
  EXPECT_FALSE(o.done);
}

TEST(ResponseParserTest, EofInsideHeadIsAnError) {
  auto o = parseWhole("HTTP/1.1 200 OK\r\nContent-Le", false, true);
  EXPECT_NE(o.error, "");
  EXPECT_FALSE(o.done);
}

TEST(ResponseParserTest, HeadResponseHasNoBody) {
  auto o = parseWhole("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", /*headRequest=*/true);
  EXPECT_EQ(o.error, "");
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.contentLength, 1234u);
  EXPECT_EQ(o.body, "");
  EXPECT_TRUE(o.reusable);
  EXPECT_FALSE(o.closeDelimited);
}

TEST(ResponseParserTest, HeadResponseLeavesNextBytesUnconsumed) {
  auto o = parseWhole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nHTTP/1.1 204 x\r\n\r\n",
                      true);
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.leftover, "HTTP/1.1 204 x\r\n\r\n");
}

TEST(ResponseParserTest, NoContentAndNotModifiedHaveNoBody) {
  for (const char* wire : {"HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n",
                           "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"}) {
    auto o = parseWhole(wire);
    EXPECT_EQ(o.error, "") << wire;
    EXPECT_TRUE(o.done) << wire;
    EXPECT_EQ(o.body, "") << wire;
    EXPECT_TRUE(o.reusable) << wire;
  }
}

TEST(ResponseParserTest, ZeroContentLengthIsDoneAtHead) {
  auto o = parseWhole("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(o.done);
  EXPECT_TRUE(o.reusable);
  EXPECT_EQ(o.contentLength, 0u);
}

TEST(ResponseParserTest, InterimContinueIsSkipped) {
  auto o = parseWhole(
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-Final: yes\r\n\r\nok");
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.status, 201);
  EXPECT_EQ(o.reason, "Created");
  EXPECT_EQ(o.headers, (Fields{{"Content-Length", "2"}, {"X-Final", "yes"}}));
  EXPECT_EQ(o.body, "ok");
  EXPECT_TRUE(o.done);
  EXPECT_TRUE(o.reusable);
}

TEST(ResponseParserTest, SeveralInterimResponsesAreSkipped) {
  auto o = parseWhole(
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(o.headers, (Fields{{"Transfer-Encoding", "chunked"}}));
  EXPECT_EQ(o.body, "hi");
  EXPECT_TRUE(o.done);
}

TEST(ResponseParserTest, InterimAloneWaitsForFinalResponse) {
  ResponseHead head;
  ResponseParser p(head, false, 64 * 1024);
  std::string body;
  boost::system::error_code ec;
  std::string wire = "HTTP/1.1 100 Continue\r\n\r\n";
  size_t used = p.put(wire, &body, ec);
  EXPECT_EQ(used, wire.size());
  EXPECT_TRUE(isNeedMore(ec));
  EXPECT_FALSE(p.headerDone());
  EXPECT_FALSE(p.done());
}

TEST(ResponseParserTest, EmptyInputNeedsMore) {
  ResponseHead head;
  ResponseParser p(head, false, 64 * 1024);
  std::string body;
  boost::system::error_code ec;
  EXPECT_EQ(p.put("", &body, ec), 0u);
  EXPECT_TRUE(isNeedMore(ec));
  EXPECT_FALSE(isNeedMore(boost::system::error_code{}));
}

TEST(ResponseParserTest, PipelinedBytesAfterResponseAreLeftUnconsumed) {
  auto o = parseWhole("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n");
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.body, "ok");
  EXPECT_EQ(o.leftover, "HTTP/1.1 200 OK\r\n");
}

TEST(ResponseParserTest, ConnectionCloseIsNotReusable) {
  auto o = parseWhole("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_TRUE(o.done);
  EXPECT_FALSE(o.keepAlive);
  EXPECT_FALSE(o.reusable);
}

TEST(ResponseParserTest, Http10IsNotReusableWithoutKeepAlive) {
  auto o = parseWhole("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(o.version, 10u);
  EXPECT_TRUE(o.done);
  EXPECT_FALSE(o.keepAlive);
  EXPECT_FALSE(o.reusable);

  auto ka = parseWhole("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_TRUE(ka.keepAlive);
  EXPECT_TRUE(ka.reusable);
}

TEST(ResponseParserTest, Http10CloseDelimitedBody) {
  auto o = parseWhole("HTTP/1.0 200 OK\r\n\r\nall of it", false, true);
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.body, "all of it");
  EXPECT_TRUE(o.done);
  EXPECT_FALSE(o.reusable);
}

TEST(ResponseParserTest, NotReusableBeforeDone) {
  auto o = parseWhole("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab");
  EXPECT_FALSE(o.done);
  EXPECT_FALSE(o.reusable);
  EXPECT_TRUE(o.keepAlive);
}

TEST(ResponseParserTest, EmptyReasonPhrase) {
  auto o = parseWhole("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(o.reason, "");
}

TEST(ResponseParserTest, MalformedStatusLineIsAnError) {
  for (const char* wire :
       {"HTTP/1.1 2000 OK\r\n\r\n", "HTTP/2.0 200 OK\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n", "HTTP/1.1200 OK\r\n\r\n", "SSH-2.0-OpenSSH_9.0\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n", "\x16\x03\x01\x02\x01\x01\xfc\x03\x03\r\n\r\n"}) {
    auto o = parseWhole(wire);
    EXPECT_NE(o.error, "") << ::testing::PrintToString(std::string(wire));
    EXPECT_FALSE(o.done);
    EXPECT_FALSE(o.headCaptured);
  }
}

TEST(ResponseParserTest, MalformedFramingIsAnError) {
  for (const char* wire : {"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                           "HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n"}) {
    auto o = parseWhole(wire);
    EXPECT_NE(o.error, "") << ::testing::PrintToString(std::string(wire));
    EXPECT_FALSE(o.done);
  }
}

TEST(ResponseParserTest, HeadLargerThanLimitIsAnError) {
  std::string wire = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(200, 'a') + "\r\n\r\n";
  auto o = parseWhole(wire, false, false, /*maxHead=*/64);
  EXPECT_NE(o.error, "");
  EXPECT_FALSE(o.headCaptured);
  auto fits = parseWhole(wire + "", false, false, /*maxHead=*/1024);
  EXPECT_EQ(fits.error, "");
}

TEST(ResponseParserTest, LargeBodyIsAppendedWhole) {
  std::string payload(100'000, 'x');
  auto o = parseWhole("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + payload);
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.body.size(), payload.size());
}

TEST(ResponseParserTest, HeaderViewsStayInsideArena) {
  auto o = parseWhole("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(o.danglingView);
  EXPECT_EQ(o.headers.size(), 4u);
}

TEST(ResponseParserTest, ConstructorResetsTheHead) {
  ResponseHead head;
  head.status = 500;
  head.headers.push_back({"stale", "value"});
  head.contentLength = 7;
  ResponseParser p(head, false, 1024);
  EXPECT_EQ(head.status, 0);
  EXPECT_TRUE(head.headers.empty());
  EXPECT_EQ(head.contentLength, std::nullopt);
  EXPECT_FALSE(p.headerDone());
  EXPECT_FALSE(p.done());
  EXPECT_FALSE(p.reusable());
}

}  // namespace
}  // namespace tg::http
