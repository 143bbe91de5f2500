// Redis Cluster's pure parts: key slots (the values are those of CLUSTER KEYSLOT on Redis 7),
// MOVED / ASK parsing and CLUSTER SLOTS parsing.
#include "redis/cluster.h"

#include <gtest/gtest.h>

namespace tg::redis {
namespace {

TEST(Crc16, SpecCheckValue) {
  // The Redis Cluster specification: "The CRC16 of '123456789' is 0x31C3" (XMODEM).
  EXPECT_EQ(crc16("123456789"), 0x31C3);
  EXPECT_EQ(crc16(""), 0);
}

TEST(SlotOf, MatchesClusterKeyslot) {
  EXPECT_EQ(slotOf("123456789"), 0x31C3 % 16384);
  EXPECT_EQ(slotOf("123456789"), 12739);
  EXPECT_EQ(slotOf("foo"), 12182);
  EXPECT_EQ(slotOf("bar"), 5061);
  EXPECT_EQ(slotOf("hello"), 866);
  EXPECT_EQ(slotOf(""), 0);
}

TEST(SlotOf, HashTags) {
  // Only the part between the first '{' and the first '}' after it is hashed.
  EXPECT_EQ(slotOf("{user1000}.following"), slotOf("user1000"));
  EXPECT_EQ(slotOf("{user1000}.followers"), slotOf("user1000"));
  EXPECT_EQ(slotOf("{user1000}.following"), 3443);
  EXPECT_EQ(slotOf("foo{bar}{zap}"), slotOf("bar"));
  EXPECT_EQ(slotOf("a{b}"), slotOf("b"));
  // The first '{' and the first '}' after it: "{bar" is hashed.
  EXPECT_EQ(slotOf("foo{{bar}}zap"), slotOf("{bar"));
  EXPECT_EQ(slotOf("foo{{bar}}zap"), 4015);
}

TEST(SlotOf, EmptyOrUnclosedTagsHashTheWholeKey) {
  EXPECT_EQ(slotOf("foo{}{bar}"), crc16("foo{}{bar}") % 16384);
  EXPECT_EQ(slotOf("foo{}{bar}"), 8363);
  EXPECT_EQ(slotOf("{}"), 15257);
  EXPECT_EQ(slotOf("{"), crc16("{") % 16384);
  EXPECT_EQ(slotOf("foo{bar"), crc16("foo{bar") % 16384);
  EXPECT_EQ(slotOf("foo}bar{"), crc16("foo}bar{") % 16384);
}

TEST(ParseRedirect, MovedAndAsk) {
  auto m = parseRedirect("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->ask);
  EXPECT_EQ(m->slot, 3999);
  EXPECT_EQ(m->to.host, "127.0.0.1");
  EXPECT_EQ(m->to.port, 6381);

  auto a = parseRedirect("ASK 16383 redis-2.example:7000");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->ask);
  EXPECT_EQ(a->slot, 16383);
  EXPECT_EQ(a->to.host, "redis-2.example");
  EXPECT_EQ(a->to.port, 7000);
}

TEST(ParseRedirect, Ipv6AndEmptyHost) {
  auto v6 = parseRedirect("MOVED 1 ::1:6380");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->to.host, "::1");
  EXPECT_EQ(v6->to.port, 6380);
  auto empty = parseRedirect("MOVED 7 :6380");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->to.host, "");
  EXPECT_EQ(empty->to.port, 6380);
}

TEST(ParseRedirect, RejectsOtherErrors) {
  EXPECT_FALSE(parseRedirect("ERR unknown command"));
  EXPECT_FALSE(parseRedirect("NOSCRIPT No matching script"));
  EXPECT_FALSE(parseRedirect("MOVED"));
  EXPECT_FALSE(parseRedirect("MOVED 16384 127.0.0.1:6380"));
  EXPECT_FALSE(parseRedirect("MOVED x 127.0.0.1:6380"));
  EXPECT_FALSE(parseRedirect("MOVED 1 127.0.0.1"));
  EXPECT_FALSE(parseRedirect("MOVED 1 127.0.0.1:0"));
  EXPECT_FALSE(parseRedirect("MOVED 1 127.0.0.1:70000"));
  EXPECT_FALSE(parseRedirect("ASKING"));
}

Reply integer(int64_t v) {
  Reply r;
  r.type = Reply::Type::Integer;
  r.integer = v;
  return r;
}
Reply string(std::string s) {
  Reply r;
  r.type = Reply::Type::String;
  r.str = std::move(s);
  return r;
}
Reply array(std::vector<Reply> e) {
  Reply r;
  r.type = Reply::Type::Array;
  r.elements = std::move(e);
  return r;
}

TEST(ParseClusterSlots, RangesWithMastersAndReplicas) {
  Reply reply = array({
      array({integer(0), integer(5460), array({string("127.0.0.1"), integer(7000), string("id1")}),
             array({string("127.0.0.1"), integer(7003), string("id4")})}),
      array({integer(5461), integer(10922), array({string(""), integer(7001), string("id2")})}),
      array({integer(10923), integer(16383),
             array({string("10.0.0.3"), integer(7002), string("id3"), array({})})}),
      array({integer(100), integer(100), array({string("?"), integer(7009)})}),
  });
  auto ranges = parseClusterSlots(reply, "10.9.9.9");
  ASSERT_TRUE(ranges);
  ASSERT_EQ(ranges->size(), 3u);
  EXPECT_EQ((*ranges)[0].first, 0);
  EXPECT_EQ((*ranges)[0].last, 5460);
  EXPECT_EQ((*ranges)[0].master.host, "127.0.0.1");
  EXPECT_EQ((*ranges)[0].master.port, 7000);
  EXPECT_EQ((*ranges)[1].master.host, "10.9.9.9");  // empty: the node that was asked
  EXPECT_EQ((*ranges)[1].master.port, 7001);
  EXPECT_EQ((*ranges)[2].first, 10923);
  EXPECT_EQ((*ranges)[2].last, 16383);
  EXPECT_EQ((*ranges)[2].master.host, "10.0.0.3");
}

TEST(ParseClusterSlots, RejectsMalformedReplies) {
  EXPECT_FALSE(parseClusterSlots(string("x"), "h"));
  EXPECT_FALSE(parseClusterSlots(array({array({integer(0), integer(1)})}), "h"));
  EXPECT_FALSE(parseClusterSlots(
      array({array({integer(0), integer(16384), array({string("h"), integer(1)})})}), "h"));
  EXPECT_FALSE(parseClusterSlots(
      array({array({integer(5), integer(1), array({string("h"), integer(1)})})}), "h"));
  EXPECT_FALSE(parseClusterSlots(
      array({array({integer(0), integer(1), array({string("h"), integer(0)})})}), "h"));
  EXPECT_TRUE(parseClusterSlots(array({}), "h"));  // a cluster without slots: valid, empty
  EXPECT_TRUE(parseClusterSlots(array({}), "h")->empty());
}

TEST(EndpointKey, HostColonPort) { EXPECT_EQ(endpointKey(Endpoint{"127.0.0.1", 6379}), "127.0.0.1:6379"); }

}  // namespace
}  // namespace tg::redis
