// proxy::EventRing (the admin's live tail of rate-limit events): numbering, JSON shape,
// wrap-around, the `after` cursor, and concurrent pushes against a reader.
#include "proxy/event_ring.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace tg::proxy {
namespace {

TEST(EventRing, EmptyRing) {
  EventRing r(4);
  EXPECT_EQ(r.last(), 0u);
  EXPECT_EQ(r.json(0), "{\"events\":[],\"next\":0}\n");
}

TEST(EventRing, NumbersEventsAndInjectsSeq) {
  EventRing r(4);
  EXPECT_EQ(r.push("{\"decision\":\"rejected\"}\n"), 1u);
  EXPECT_EQ(r.push("{\"decision\":\"too_large\"}"), 2u);
  EXPECT_EQ(r.json(0),
            "{\"events\":[{\"seq\":1,\"decision\":\"rejected\"},"
            "{\"seq\":2,\"decision\":\"too_large\"}],\"next\":2}\n");
  EXPECT_EQ(r.json(1), "{\"events\":[{\"seq\":2,\"decision\":\"too_large\"}],\"next\":2}\n");
  EXPECT_EQ(r.json(2), "{\"events\":[],\"next\":2}\n");
}

TEST(EventRing, EmptyObjectAndNonObjects) {
  EventRing r(4);
  r.push("{}");
  r.push("not json");
  EXPECT_EQ(r.json(0), "{\"events\":[{\"seq\":1}],\"next\":2}\n");
}

TEST(EventRing, KeepsOnlyTheLastCapacityEvents) {
  EventRing r(3);
  for (int i = 1; i <= 10; ++i) {
    r.push("{\"i\":" + std::to_string(i) + "}");
  }
  EXPECT_EQ(r.last(), 10u);
  EXPECT_EQ(r.json(0),
            "{\"events\":[{\"seq\":8,\"i\":8},{\"seq\":9,\"i\":9},{\"seq\":10,\"i\":10}],"
            "\"next\":10}\n");
  // A reader behind the ring gets what is left (a gap in seq), not stale slots.
  EXPECT_EQ(r.json(2), r.json(0));
  EXPECT_EQ(r.json(9), "{\"events\":[{\"seq\":10,\"i\":10}],\"next\":10}\n");
}

TEST(EventRing, CursorBeyondTheNewestRestartsFromTheBeginning) {
  EventRing r(4);
  r.push("{\"a\":1}");
  EXPECT_EQ(r.json(99), "{\"events\":[{\"seq\":1,\"a\":1}],\"next\":1}\n");
}

TEST(EventRing, ConcurrentWritersAndAReader) {
  EventRing r(64);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&r, t] {
      for (int i = 0; i < kPerThread; ++i) {
        r.push("{\"t\":" + std::to_string(t) + ",\"payload\":\"" + std::string(40, 'x') + "\"}");
      }
    });
  }
  uint64_t after = 0;
  for (int i = 0; i < 200; ++i) {
    std::string j = r.json(after);
    ASSERT_TRUE(j.starts_with("{\"events\":[")) << j;
    ASSERT_TRUE(j.ends_with("}\n")) << j;
    size_t p = j.rfind("\"next\":");
    ASSERT_NE(p, std::string::npos);
    uint64_t next = std::stoull(j.substr(p + 7));
    ASSERT_GE(next, after);
    after = next;
  }
  for (std::thread& w : writers) {
    w.join();
  }
  EXPECT_EQ(r.last(), static_cast<uint64_t>(kThreads * kPerThread));
  std::string all = r.json(0);
  size_t count = 0;
  for (size_t p = all.find("{\"seq\":"); p != std::string::npos; p = all.find("{\"seq\":", p + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 64u);
}

TEST(EventRing, ProcessWideRingExists) {
  EXPECT_EQ(&rateLimitEvents(), &rateLimitEvents());
}

}  // namespace
}  // namespace tg::proxy
