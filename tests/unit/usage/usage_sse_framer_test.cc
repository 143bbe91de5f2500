// SseFramer against the WHATWG event-stream rules (wire-formats.md §4): line ends, BOM,
// comments, fields, dispatch, EOF; and the block reporting that stripping relies on.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "samples.h"
#include "usage/sse.h"

namespace tg::usage {
namespace {

struct Ev {
  std::string type;
  std::string data;
  std::string id;
  bool operator==(const Ev&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Ev& e) {
  return os << "{" << e.type << "|" << e.data << "|" << e.id << "}";
}

struct Framed {
  std::vector<Ev> events;
  std::vector<std::string> blocks;  // the bytes of each block, LF-after-CR included
  std::string tail;                 // bytes of the unfinished block at EOF
  std::optional<Ev> pending;
};

Framed frameIn(bool zeroCopy, const std::vector<std::string_view>& pieces, size_t maxEvent) {
  SseFramer f(maxEvent);
  f.setZeroCopy(zeroCopy);
  Framed r;
  std::string block;
  for (std::string_view in : pieces) {
    while (!in.empty()) {
      SseFramer::Step s = f.advance(in);
      EXPECT_GT(s.consumed, 0u);
      std::string_view part = in.substr(0, s.consumed);
      in.remove_prefix(s.consumed);
      if (s.dispatched) {
        const SseEvent& e = f.event();
        r.events.push_back({std::string(e.type), std::string(e.data), std::string(e.lastEventId)});
      }
      switch (s.kind) {
        case SseFramer::StepKind::NeedMore:
          block += part;
          break;
        case SseFramer::StepKind::BlockEnd:
          r.blocks.push_back(block + std::string(part));
          block.clear();
          break;
        case SseFramer::StepKind::LfAfterBlock:
          EXPECT_FALSE(r.blocks.empty());
          r.blocks.back() += part;
          break;
      }
    }
  }
  r.tail = block;
  if (auto p = f.pendingAtEof()) {
    r.pending = Ev{std::string(p->type), std::string(p->data), std::string(p->lastEventId)};
  }
  return r;
}

bool operator==(const Framed& a, const Framed& b) {
  return a.events == b.events && a.blocks == b.blocks && a.tail == b.tail &&
         a.pending == b.pending;
}

// Frames in the default mode and in zero-copy mode: every test checks both give the same.
Framed frame(const std::vector<std::string_view>& pieces, size_t maxEvent = 1 << 20) {
  Framed padded = frameIn(false, pieces, maxEvent);
  EXPECT_TRUE(frameIn(true, pieces, maxEvent) == padded) << "zero-copy mode differs";
  return padded;
}

Framed frame(std::string_view s) { return frame(std::vector<std::string_view>{s}); }

std::vector<Ev> events(std::string_view s) { return frame(s).events; }

TEST(SseFramer, LfCrlfAndCrLineEndsGiveTheSameEvents) {
  std::string lf = "event: a\ndata: one\n\ndata: two\ndata: three\n\n";
  std::vector<Ev> expected = {{"a", "one", ""}, {"message", "two\nthree", ""}};
  EXPECT_EQ(events(lf), expected);
  EXPECT_EQ(events(samples::withLineEnd(lf, "\r\n")), expected);
  EXPECT_EQ(events(samples::withLineEnd(lf, "\r")), expected);
  EXPECT_EQ(events("data: one\r\n\ndata: two\n\r\n"),
            (std::vector<Ev>{{"message", "one", ""}, {"message", "two", ""}}));
}

TEST(SseFramer, CrlfSplitAcrossFeedsIsOneLineEnd) {
  // "data: x\r" | "\n" | "\r" | "\n": one event, dispatched at the second CR, and no extra
  // blank line from the swallowed LFs.
  Framed f = frame({"data: x\r", "\n", "\r", "\ndata: y\r", "\n\r\n"});
  EXPECT_EQ(f.events, (std::vector<Ev>{{"message", "x", ""}, {"message", "y", ""}}));
  EXPECT_EQ(f.blocks, (std::vector<std::string>{"data: x\r\n\r\n", "data: y\r\n\r\n"}));
}

TEST(SseFramer, DispatchAtCrIsImmediate) {
  SseFramer f;
  std::string_view in = "data: x\r\r";
  SseFramer::Step s = f.advance(in);
  EXPECT_EQ(s.kind, SseFramer::StepKind::BlockEnd);
  EXPECT_TRUE(s.dispatched);
  EXPECT_EQ(s.consumed, in.size());
  EXPECT_EQ(f.event().data, "x");
  // The following LF belongs to the finished block.
  s = f.advance("\ndata: y\n\n");
  EXPECT_EQ(s.kind, SseFramer::StepKind::LfAfterBlock);
  EXPECT_EQ(s.consumed, 1u);
}

TEST(SseFramer, BomStrippedOnceAtStartEvenWhenSplit) {
  std::string bom = "\xEF\xBB\xBF";
  EXPECT_EQ(events(bom + "data: a\n\n"), (std::vector<Ev>{{"message", "a", ""}}));
  Framed split = frame({"\xEF", "\xBB",
                        "\xBF"
                        "da",
                        "ta: a\n\n"});
  EXPECT_EQ(split.events, (std::vector<Ev>{{"message", "a", ""}}));
  // A second BOM is not stripped: the field name becomes "\xEF\xBB\xBF" "data", ignored.
  EXPECT_EQ(events(bom + bom + "data: a\n\n"), std::vector<Ev>{});
  // A partial BOM is line content.
  EXPECT_EQ(events("\xEF\xBB"
                   "data: a\n\ndata: b\n\n"),
            (std::vector<Ev>{{"message", "b", ""}}));
  // The BOM bytes stay in the block (forwarded untouched).
  EXPECT_EQ(frame(bom + "data: a\n\n").blocks, (std::vector<std::string>{bom + "data: a\n\n"}));
}

TEST(SseFramer, CommentsAndKeepAlives) {
  EXPECT_EQ(events(": OPENROUTER PROCESSING\n\n:\n\ndata: a\n: inside\ndata: b\n\n"),
            (std::vector<Ev>{{"message", "a\nb", ""}}));
}

TEST(SseFramer, FieldParsingRules) {
  EXPECT_EQ(events("data:test\n\n"), events("data: test\n\n"));
  EXPECT_EQ(events("data:  third\n\n"), (std::vector<Ev>{{"message", " third", ""}}));
  // A bare "data" line: an event with empty data.
  EXPECT_EQ(events("data\n\n"), (std::vector<Ev>{{"message", "", ""}}));
  EXPECT_EQ(events("data\ndata\n\n"), (std::vector<Ev>{{"message", "\n", ""}}));
  // No data at all: nothing fires, and the event type resets.
  EXPECT_EQ(events("event: x\n\ndata: a\n\n"), (std::vector<Ev>{{"message", "a", ""}}));
  // Case-sensitive names, unknown fields ignored, value colons kept.
  EXPECT_EQ(events("Data: no\nfoo: bar\ndata: a:b\n\n"), (std::vector<Ev>{{"message", "a:b", ""}}));
  // id persists across events; an id with NUL is ignored.
  EXPECT_EQ(events(std::string("id: 7\ndata: a\n\nid: 8\0\ndata: b\n\n", 32)),
            (std::vector<Ev>{{"message", "a", "7"}, {"message", "b", "7"}}));
  EXPECT_EQ(events("event: response.completed\ndata: {}\n\n"),
            (std::vector<Ev>{{"response.completed", "{}", ""}}));
}

TEST(SseFramer, NoTrailingBlankLineAtEofIsNotDispatched) {
  Framed f = frame("data: a\n\ndata: b\n");
  EXPECT_EQ(f.events, (std::vector<Ev>{{"message", "a", ""}}));
  EXPECT_EQ(f.tail, "data: b\n");
  ASSERT_TRUE(f.pending.has_value());  // for accounting only
  EXPECT_EQ(f.pending->data, "b");
  // An unterminated last line is included in the pending event.
  Framed g = frame("data: a\ndata: {\"x\":1}");
  EXPECT_TRUE(g.events.empty());
  ASSERT_TRUE(g.pending.has_value());
  EXPECT_EQ(g.pending->data, "a\n{\"x\":1}");
  EXPECT_FALSE(frame("data: a\n\n: c").pending.has_value());
}

TEST(SseFramer, BlocksReassembleTheInputExactly) {
  std::string in = ": c\n\ndata: a\r\n\r\n\n\nevent: e\rdata: b\r\r\ndata: x";
  Framed f = frame(in);
  std::string joined;
  for (const auto& b : f.blocks) {
    joined += b;
  }
  EXPECT_EQ(joined + f.tail, in);
  EXPECT_EQ(f.blocks.size(), 5u);  // comment, a, blank, blank, e/b
}

TEST(SseFramer, EventsAndBlocksDoNotDependOnTheSplit) {
  std::string in = "\xEF\xBB\xBF" + samples::kAnthropicStream +
                   samples::withLineEnd(samples::kGeminiSseLf, "\r\n") +
                   samples::withLineEnd(samples::kOpenAIChatStream, "\r") + ": end\n\ndata: x";
  Framed whole = frame(in);
  EXPECT_EQ(whole.events.size(), 8u + 2u + 6u);
  EXPECT_EQ(frame(samples::splitBytes(in)).events, whole.events);
  std::mt19937 rng(99);
  for (int i = 0; i < 50; ++i) {
    Framed split = frame(samples::splitRandom(in, rng, i % 2 == 0 ? 5 : 200));
    EXPECT_EQ(split.events, whole.events) << i;
    EXPECT_EQ(split.blocks, whole.blocks) << i;
    EXPECT_EQ(split.tail, whole.tail) << i;
    EXPECT_EQ(split.pending, whole.pending) << i;
  }
}

TEST(SseFramer, OversizedEventIsTruncatedAndMarked) {
  SseFramer f(16);
  std::string in = "data: 0123456789\ndata: 0123456789\n\ndata: ok\n\n";
  std::string_view rest = in;
  SseFramer::Step s = f.advance(rest);
  ASSERT_TRUE(s.dispatched);
  EXPECT_TRUE(f.event().truncated);
  EXPECT_LE(f.event().data.size(), 16u);
  rest.remove_prefix(s.consumed);
  s = f.advance(rest);
  ASSERT_TRUE(s.dispatched);
  EXPECT_FALSE(f.event().truncated);
  EXPECT_EQ(f.event().data, "ok");
  // A line longer than the cap split across feeds is cut too.
  SseFramer g(8);
  std::string longLine = "data: " + std::string(100, 'z');
  for (char c : longLine) {
    g.advance(std::string_view(&c, 1));
  }
  s = g.advance("\n\n");
  ASSERT_TRUE(s.dispatched);
  EXPECT_TRUE(g.event().truncated);
  EXPECT_LE(g.event().data.size(), 8u);
}

TEST(SseFramer, ZeroCopyViewsTheInputAndCopiesWhatOutlivesIt) {
  SseFramer f;
  f.setZeroCopy(true);
  std::string in = "data: {\"a\":1}\n\n";
  ASSERT_TRUE(f.advance(in).dispatched);
  EXPECT_FALSE(f.event().padded);
  EXPECT_EQ(f.event().data.data(), in.data() + 6);
  EXPECT_EQ(f.event().dataLines, 1u);
  // The data line arrives in one input, the blank line in the next: copied, padded.
  std::string first = "data: xyz\n";
  f.advance(first);
  first.assign(first.size(), '#');
  ASSERT_TRUE(f.advance("\n").dispatched);
  EXPECT_TRUE(f.event().padded);
  EXPECT_EQ(f.event().data, "xyz");
  // Two data lines in one input: joined, padded.
  ASSERT_TRUE(f.advance("data: a\ndata: b\n\n").dispatched);
  EXPECT_TRUE(f.event().padded);
  EXPECT_EQ(f.event().data, "a\nb");
  EXPECT_EQ(f.event().dataLines, 2u);
}

TEST(SseFramer, DataIsPaddedForInPlaceParsing) {
  SseFramer f;
  f.advance("data: {}\n\n");
  // Reading kPadding bytes past the end must stay inside the allocation (checked by ASan).
  const auto* end =
      reinterpret_cast<const unsigned char*>(f.event().data.data() + f.event().data.size());
  volatile unsigned char sink = 0;
  for (size_t i = 0; i < SseFramer::kPadding; ++i) {
    sink = static_cast<unsigned char>(sink ^ end[i]);
  }
  (void)sink;
}

}  // namespace
}  // namespace tg::usage
