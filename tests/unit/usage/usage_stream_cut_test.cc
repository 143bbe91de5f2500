// StreamCut: the sample streams of every cuttable dialect, fed whole, split at every byte
// offset, byte by byte and at random points (the blocks and their counts must not depend on
// the split); ending() parsed back per dialect.

#include "usage/stream_cut.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "samples.h"

namespace tg::usage {
namespace {

using namespace samples;

constexpr int64_t kNow = 1767225600;

// The fake tokenizer: one token per blank-separated word.
uint64_t words(std::string_view s) {
  uint64_t n = 0;
  bool in = false;
  for (char c : s) {
    const bool blank = c == ' ' || c == '\n' || c == '\t';
    n += !blank && !in ? 1 : 0;
    in = !blank;
  }
  return n;
}
const TokenCounter kWords = words;

RequestInfo request(Dialect dialect, bool askedUsage = false, std::string model = "m") {
  RequestInfo r;
  r.dialect = dialect;
  r.model = std::move(model);
  r.stream = true;
  r.clientAskedUsage = askedUsage;
  return r;
}

struct Taken {
  std::vector<std::pair<std::string, uint64_t>> blocks;
  uint64_t relayed = 0;
  std::string joined;
};

// Feeds the pieces, taking every block after each feed, then finish().
Taken run(StreamCut& cut, const std::vector<std::string_view>& pieces, bool finish = true) {
  Taken t;
  auto drain = [&] {
    while (auto b = cut.next()) {
      cut.take();
      t.blocks.emplace_back(std::string(b->bytes), b->outputTokens);
      t.joined += b->bytes;
    }
  };
  for (std::string_view p : pieces) {
    cut.feed(p);
    drain();
  }
  if (finish) {
    cut.finish();
    drain();
  }
  t.relayed = cut.relayedOutput();
  return t;
}

Taken run(const RequestInfo& req, const std::vector<std::string_view>& pieces,
          const TokenCounter& counter = kWords,
          size_t maxBlock = StreamCut::kDefaultMaxBlockBytes) {
  StreamCut cut(req, counter, kNow, maxBlock);
  return run(cut, pieces);
}

// Whole, split at every offset, byte by byte, random splits: the same blocks every time.
Taken checkSplits(const RequestInfo& req, std::string_view s, const TokenCounter& counter = kWords,
                  size_t maxBlock = StreamCut::kDefaultMaxBlockBytes) {
  const Taken whole = run(req, {s}, counter, maxBlock);
  for (size_t k = 0; k <= s.size(); ++k) {
    const Taken two = run(req, {s.substr(0, k), s.substr(k)}, counter, maxBlock);
    EXPECT_EQ(two.blocks, whole.blocks) << "split at " << k;
  }
  EXPECT_EQ(run(req, splitBytes(s), counter, maxBlock).blocks, whole.blocks) << "byte by byte";
  std::mt19937 rng(7);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(run(req, splitRandom(s, rng, 40), counter, maxBlock).blocks, whole.blocks);
  }
  return whole;
}

std::vector<uint64_t> counts(const Taken& t) {
  std::vector<uint64_t> r;
  for (const auto& b : t.blocks) {
    r.push_back(b.second);
  }
  return r;
}

// The events of an ending: (SSE type, data), read back with the framer.
std::vector<std::pair<std::string, std::string>> events(std::string_view s) {
  SseFramer f;
  std::vector<std::pair<std::string, std::string>> r;
  while (!s.empty()) {
    auto step = f.advance(s);
    s.remove_prefix(step.consumed);
    if (step.dispatched) {
      r.emplace_back(std::string(f.event().type), std::string(f.event().data));
    }
  }
  return r;
}

// A StreamCut that took the first `n` blocks of `s`.
StreamCut takeFirst(const RequestInfo& req, std::string_view s, size_t n) {
  StreamCut cut(req, kWords, kNow);
  cut.feed(s);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_TRUE(cut.next().has_value()) << i;
    cut.take();
  }
  return cut;
}

simdjson::dom::parser gParser;

simdjson::dom::element parse(const std::string& json) {
  simdjson::dom::element e;
  EXPECT_EQ(gParser.parse(json).get(e), simdjson::SUCCESS) << json;
  return e;
}

std::string str(simdjson::dom::element e) { return std::string(std::string_view(e)); }

TEST(StreamCut, SupportsTheSseDialects) {
  for (Dialect d : {Dialect::OpenAIChat, Dialect::OpenAICompletions, Dialect::OpenAIResponses,
                    Dialect::Anthropic, Dialect::GeminiStreamSse}) {
    EXPECT_TRUE(StreamCut::supports(d)) << dialectName(d);
  }
  for (Dialect d : {Dialect::Unknown, Dialect::OpenAIEmbeddings, Dialect::GeminiGenerate,
                    Dialect::GeminiStream, Dialect::OllamaChat, Dialect::OllamaGenerate}) {
    EXPECT_FALSE(StreamCut::supports(d)) << dialectName(d);
  }
}

TEST(StreamCut, OpenAIChatBlocksAndCounts) {
  const Taken t = checkSplits(request(Dialect::OpenAIChat), kOpenAIChatStream);
  EXPECT_EQ(t.joined, kOpenAIChatStream);
  EXPECT_EQ(counts(t), (std::vector<uint64_t>{0, 1, 4, 0, 0, 0}));
  EXPECT_EQ(t.relayed, 5u);
  EXPECT_EQ(t.blocks[0].first,
            kOpenAIChatBeforeUsage.substr(0, kOpenAIChatBeforeUsage.find("\n\n") + 2));
  // The default counter: bytes / 4 ("Hi!" 1, " How can I help?" 4).
  EXPECT_EQ(counts(checkSplits(request(Dialect::OpenAIChat), kOpenAIChatStream, {})),
            (std::vector<uint64_t>{0, 1, 4, 0, 0, 0}));
  // CRLF and CR-only line ends give the same blocks, in their own bytes.
  for (std::string_view eol : {"\r\n", "\r"}) {
    const std::string s = withLineEnd(kOpenAIChatStream, eol);
    const Taken other = checkSplits(request(Dialect::OpenAIChat), s);
    EXPECT_EQ(other.joined, s);
    EXPECT_EQ(counts(other), counts(t));
  }
}

TEST(StreamCut, OpenAIChatEndingPerChoiceThenUsageOnlyWhenAsked) {
  for (bool asked : {false, true}) {
    const StreamCut cut = takeFirst(request(Dialect::OpenAIChat, asked), kOpenAIChatStream, 3);
    EXPECT_EQ(cut.relayedOutput(), 5u);
    const auto ev = events(cut.ending(1200, 7));
    ASSERT_EQ(ev.size(), asked ? 3u : 2u);
    auto chunk = parse(ev[0].second);
    EXPECT_EQ(str(chunk["id"]), "chatcmpl-abc");
    EXPECT_EQ(str(chunk["object"]), "chat.completion.chunk");
    EXPECT_EQ(int64_t(chunk["created"]), 1735689600);
    EXPECT_EQ(str(chunk["model"]), "gpt-4o");
    EXPECT_EQ(str(chunk["choices"].at(0)["finish_reason"]), "length");
    EXPECT_EQ(uint64_t(chunk["choices"].at(0)["index"]), 0u);
    EXPECT_TRUE(chunk["choices"].at(0)["delta"].is_object());
    if (asked) {
      auto usage = parse(ev[1].second);
      EXPECT_EQ(simdjson::dom::array(usage["choices"]).size(), 0u);
      EXPECT_EQ(uint64_t(usage["usage"]["prompt_tokens"]), 1200u);
      EXPECT_EQ(uint64_t(usage["usage"]["completion_tokens"]), 7u);
      EXPECT_EQ(uint64_t(usage["usage"]["total_tokens"]), 1207u);
    }
    EXPECT_EQ(ev.back().second, "[DONE]");
  }
  // After the upstream's own [DONE], nothing is added.
  StreamCut done = takeFirst(request(Dialect::OpenAIChat, true), kOpenAIChatStream, 6);
  EXPECT_TRUE(done.streamEnded());
  EXPECT_EQ(done.ending(1, 2), "");
  EXPECT_EQ(done.reportedInput(), 1200u);
}

TEST(StreamCut, OpenAIChatToolCallsReasoningAndSeveralChoices) {
  const std::string s =
      R"(data: {"id":"c1","object":"chat.completion.chunk","created":5,"model":"o","system_fingerprint":"fp_1","choices":[{"index":1,"delta":{"reasoning_content":"let me think","refusal":"no"},"finish_reason":null},{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}}]},"finish_reason":null}]})"
      "\n\n"
      R"(data: {"id":"c1","object":"chat.completion.chunk","created":5,"model":"o","choices":[{"index":1,"delta":{"function_call":{"arguments":"a b"},"reasoning":"r"},"finish_reason":"stop"}]})"
      "\n\n";
  const Taken t = checkSplits(request(Dialect::OpenAIChat), s);
  EXPECT_EQ(counts(t), (std::vector<uint64_t>{3 + 1 + 1 + 2, 2 + 1}));
  StreamCut cut = takeFirst(request(Dialect::OpenAIChat), s, 2);
  const auto ev = events(cut.ending(3, 4));
  ASSERT_EQ(ev.size(), 2u);  // choice 1 finished: only choice 0 gets "length"
  auto chunk = parse(ev[0].second);
  EXPECT_EQ(uint64_t(chunk["choices"].at(0)["index"]), 0u);
  EXPECT_EQ(str(chunk["system_fingerprint"]), "fp_1");
  EXPECT_EQ(str(chunk["id"]), "c1");
}

TEST(StreamCut, OpenAIChatNothingTakenUsesDefaultsAndEscapesTheModel) {
  const std::string model = "we\"ird\\model\n\x01";
  StreamCut cut(request(Dialect::OpenAIChat, true, model), kWords, kNow);
  const auto ev = events(cut.ending(10, 0));
  ASSERT_EQ(ev.size(), 3u);
  auto chunk = parse(ev[0].second);
  EXPECT_EQ(str(chunk["id"]), "chatcmpl-tokengate");
  EXPECT_EQ(int64_t(chunk["created"]), kNow);
  EXPECT_EQ(str(chunk["model"]), model);
  EXPECT_EQ(uint64_t(parse(ev[1].second)["usage"]["total_tokens"]), 10u);
  // Without an injected clock, the system clock.
  StreamCut real(request(Dialect::OpenAIChat), kWords);
  EXPECT_GT(int64_t(parse(events(real.ending(0, 0))[0].second)["created"]), 1700000000);
  // A model that is not UTF-8 still gives valid JSON.
  StreamCut bad(request(Dialect::OpenAIChat, false, "m\xff"), kWords, kNow);
  EXPECT_EQ(str(parse(events(bad.ending(0, 0))[0].second)["model"]), "m?");
}

TEST(StreamCut, CompletionsCountsTextAndEndsWithTextCompletion) {
  const Taken t = checkSplits(request(Dialect::OpenAICompletions), kCompletionsStream);
  EXPECT_EQ(counts(t), (std::vector<uint64_t>{1, 3, 0, 0}));
  StreamCut cut = takeFirst(request(Dialect::OpenAICompletions, true), kCompletionsStream, 1);
  const auto ev = events(cut.ending(5, 1));
  ASSERT_EQ(ev.size(), 3u);
  auto chunk = parse(ev[0].second);
  EXPECT_EQ(str(chunk["object"]), "text_completion");
  EXPECT_EQ(str(chunk["id"]), "cmpl-1");
  EXPECT_EQ(str(chunk["choices"].at(0)["text"]), "");
  EXPECT_TRUE(chunk["choices"].at(0)["logprobs"].is_null());
  EXPECT_EQ(str(chunk["choices"].at(0)["finish_reason"]), "length");
  EXPECT_EQ(uint64_t(parse(ev[1].second)["usage"]["prompt_tokens"]), 5u);
  EXPECT_EQ(ev[2].second, "[DONE]");
}

const std::string kResponses =
    "event: response.created\n"
    R"(data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_9","object":"response","created_at":1741290958,"status":"in_progress","model":"gpt-4.1","usage":null}})"
    "\n\n"
    "event: response.output_text.delta\n"
    R"(data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi there"})"
    "\n\n"
    "event: response.function_call_arguments.delta\n"
    R"(data: {"type":"response.function_call_arguments.delta","sequence_number":5,"delta":"{\"a\": 1}"})"
    "\n\n"
    "event: response.reasoning_summary_text.delta\n"
    R"(data: {"type":"response.reasoning_summary_text.delta","sequence_number":6,"delta":"x y z"})"
    "\n\n"
    "event: response.output_text.done\n"
    R"(data: {"type":"response.output_text.done","sequence_number":7,"text":"Hi there"})"
    "\n\n";

TEST(StreamCut, ResponsesCountsDeltasAndEndsIncomplete) {
  const Taken t = checkSplits(request(Dialect::OpenAIResponses), kResponses);
  EXPECT_EQ(counts(t), (std::vector<uint64_t>{0, 2, 2, 3, 0}));
  EXPECT_EQ(counts(checkSplits(request(Dialect::OpenAIResponses), kResponsesStream)),
            (std::vector<uint64_t>{0, 1, 0}));
  StreamCut cut = takeFirst(request(Dialect::OpenAIResponses), kResponses, 2);
  const auto ev = events(cut.ending(20, 2));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].first, "response.incomplete");
  auto e = parse(ev[0].second);
  EXPECT_EQ(str(e["type"]), "response.incomplete");
  EXPECT_EQ(uint64_t(e["sequence_number"]), 5u);
  EXPECT_EQ(str(e["response"]["id"]), "resp_9");
  EXPECT_EQ(str(e["response"]["model"]), "gpt-4.1");
  EXPECT_EQ(int64_t(e["response"]["created_at"]), 1741290958);
  EXPECT_EQ(str(e["response"]["status"]), "incomplete");
  EXPECT_EQ(str(e["response"]["incomplete_details"]["reason"]), "max_output_tokens");
  EXPECT_EQ(uint64_t(e["response"]["usage"]["input_tokens"]), 20u);
  EXPECT_EQ(uint64_t(e["response"]["usage"]["output_tokens"]), 2u);
  EXPECT_EQ(uint64_t(e["response"]["usage"]["total_tokens"]), 22u);
  // A completed stream gets nothing more.
  StreamCut done = takeFirst(request(Dialect::OpenAIResponses), kResponsesStream, 3);
  EXPECT_EQ(done.ending(1, 1), "");
  EXPECT_EQ(done.reportedInput(), 1200u);
}

TEST(StreamCut, AnthropicClosesTheOpenBlockAndStopsWithMaxTokens) {
  const Taken t = checkSplits(request(Dialect::Anthropic), kAnthropicStream);
  EXPECT_EQ(t.joined, kAnthropicStream);
  EXPECT_EQ(counts(t), (std::vector<uint64_t>{0, 0, 0, 9, 0, 0, 0, 0}));
  StreamCut cut = takeFirst(request(Dialect::Anthropic), kAnthropicStart, 4);
  EXPECT_EQ(cut.reportedInput(), 176u);
  const auto ev = events(cut.ending(176, 9));
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].first, "content_block_stop");
  EXPECT_EQ(uint64_t(parse(ev[0].second)["index"]), 0u);
  EXPECT_EQ(ev[1].first, "message_delta");
  auto delta = parse(ev[1].second);
  EXPECT_EQ(str(delta["delta"]["stop_reason"]), "max_tokens");
  EXPECT_TRUE(delta["delta"]["stop_sequence"].is_null());
  EXPECT_EQ(uint64_t(delta["usage"]["input_tokens"]), 176u);
  EXPECT_EQ(uint64_t(delta["usage"]["output_tokens"]), 9u);
  EXPECT_EQ(ev[2].first, "message_stop");
  EXPECT_EQ(str(parse(ev[2].second)["type"]), "message_stop");
  // Block 0 stopped: no content_block_stop. After message_stop: nothing.
  EXPECT_EQ(events(takeFirst(request(Dialect::Anthropic), kAnthropicStream, 6).ending(1, 1))
                .front()
                .first,
            "message_delta");
  EXPECT_EQ(takeFirst(request(Dialect::Anthropic), kAnthropicStream, 8).ending(1, 1), "");
}

TEST(StreamCut, AnthropicToolAndThinkingDeltasAndNoMessageStart) {
  const std::string s =
      "event: content_block_start\n"
      R"(data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}})"
      "\n\n"
      "event: content_block_delta\n"
      R"(data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"a\": 1"}})"
      "\n\n"
      R"(data: {"type":"content_block_delta","index":2,"delta":{"type":"thinking_delta","thinking":"hmm ok"}})"
      "\n\n";
  EXPECT_EQ(counts(checkSplits(request(Dialect::Anthropic), s)), (std::vector<uint64_t>{0, 2, 2}));
  StreamCut cut = takeFirst(request(Dialect::Anthropic, false, "claude-x"), s, 3);
  const auto ev = events(cut.ending(40, 4));
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].first, "message_start");
  auto start = parse(ev[0].second);
  EXPECT_EQ(str(start["message"]["id"]), "msg_tokengate");
  EXPECT_EQ(str(start["message"]["model"]), "claude-x");
  EXPECT_EQ(str(start["message"]["role"]), "assistant");
  EXPECT_EQ(uint64_t(start["message"]["usage"]["input_tokens"]), 40u);
  EXPECT_EQ(ev[1].first, "content_block_stop");
  EXPECT_EQ(uint64_t(parse(ev[1].second)["index"]), 2u);
  EXPECT_EQ(ev[3].first, "message_stop");
}

TEST(StreamCut, GeminiKeepsCrlfAndEndsWithMaxTokens) {
  const std::string s = withLineEnd(kGeminiSseLf, "\r\n");
  const Taken t = checkSplits(request(Dialect::GeminiStreamSse), s);
  EXPECT_EQ(t.joined, s);
  EXPECT_EQ(counts(t), (std::vector<uint64_t>{1, 1}));
  StreamCut cut = takeFirst(request(Dialect::GeminiStreamSse), s, 1);
  EXPECT_EQ(cut.reportedInput(), 1200u);
  const std::string end = cut.ending(1200, 1);
  EXPECT_TRUE(end.starts_with("data: {") && end.ends_with("}\r\n\r\n")) << end;
  EXPECT_EQ(end.find('\n'), end.size() - 3);  // every line ends with CRLF
  const auto ev = events(end);
  ASSERT_EQ(ev.size(), 1u);
  auto chunk = parse(ev[0].second);
  EXPECT_EQ(str(chunk["candidates"].at(0)["finishReason"]), "MAX_TOKENS");
  EXPECT_EQ(str(chunk["candidates"].at(0)["content"]["parts"].at(0)["text"]), "");
  EXPECT_EQ(str(chunk["candidates"].at(0)["content"]["role"]), "model");
  EXPECT_EQ(uint64_t(chunk["usageMetadata"]["promptTokenCount"]), 1200u);
  EXPECT_EQ(uint64_t(chunk["usageMetadata"]["candidatesTokenCount"]), 1u);
  EXPECT_EQ(uint64_t(chunk["usageMetadata"]["totalTokenCount"]), 1201u);
  EXPECT_EQ(str(chunk["modelVersion"]), "gemini-2.5-flash");
  EXPECT_TRUE(chunk["responseId"].error() == simdjson::NO_SUCH_FIELD);
  // The finishReason chunk ends the stream; an LF stream ends with LF.
  EXPECT_EQ(takeFirst(request(Dialect::GeminiStreamSse), s, 2).ending(1, 1), "");
  EXPECT_TRUE(takeFirst(request(Dialect::GeminiStreamSse), kGeminiSseLf, 1)
                  .ending(1, 1)
                  .ends_with("}\n\n"));
}

TEST(StreamCut, GeminiFunctionCallCountsAsMinifiedJsonAndKeepsResponseId) {
  const std::string s =
      "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\": "
      "{\"name\": \"f\", \"args\": {\"x\": 1}}}]},\"index\":0}],\"responseId\":\"r-1\"}\r\n\r\n";
  const Taken t = checkSplits(request(Dialect::GeminiStreamSse), s, {});
  const std::string minified = R"({"name":"f","args":{"x":1}})";
  EXPECT_EQ(counts(t), (std::vector<uint64_t>{estimateTokensByBytes(minified)}));
  StreamCut cut = takeFirst(request(Dialect::GeminiStreamSse, false, "gemini-pro"), s, 1);
  auto chunk = parse(events(cut.ending(1, 1))[0].second);
  EXPECT_EQ(str(chunk["responseId"]), "r-1");
  EXPECT_EQ(str(chunk["modelVersion"]), "gemini-pro");
}

TEST(StreamCut, ABlockNotTakenLeavesNoTrace) {
  StreamCut cut(request(Dialect::Anthropic), kWords, kNow);
  cut.feed(kAnthropicStart);
  for (int i = 0; i < 3; ++i) {  // message_start, content_block_start, ping
    ASSERT_TRUE(cut.next().has_value());
    if (i == 0) {
      cut.take();
    }
  }
  // next() without take() gives the same block again, across a feed() too.
  auto b = cut.next();
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(b->bytes.starts_with("event: content_block_start\n"));
  cut.feed(kAnthropicStream.substr(kAnthropicStart.size()));
  EXPECT_EQ(std::string(cut.next()->bytes),
            std::string(kAnthropicStart)
                .substr(kAnthropicStart.find("event: content_block_start"), b->bytes.size()));
  EXPECT_EQ(cut.rest(),
            kAnthropicStream.substr(kAnthropicStart.find("event: content_block_start")));
  // The block start was never taken: no content_block_stop in the ending.
  const auto ev = events(cut.ending(1, 0));
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].first, "message_delta");
  EXPECT_EQ(cut.relayedOutput(), 0u);
  // Nor do the tokens of a delta that was only looked at.
  cut.take();  // content_block_start
  cut.next();
  cut.take();  // ping
  EXPECT_EQ(cut.next()->outputTokens, 9u);
  EXPECT_EQ(cut.relayedOutput(), 0u);
  EXPECT_EQ(events(cut.ending(1, 0))[0].first, "content_block_stop");
}

TEST(StreamCut, PartialEventIsNeverHandedOut) {
  StreamCut cut(request(Dialect::OpenAIChat), kWords, kNow);
  const std::string partial = R"(data: {"choices":[{"index":0,"delta":{"content":"a b"}}]})"
                              "\n";
  cut.feed(kDone + partial);
  ASSERT_TRUE(cut.next().has_value());
  cut.take();
  EXPECT_FALSE(cut.next().has_value());
  EXPECT_EQ(cut.rest(), partial);
  cut.finish();
  EXPECT_FALSE(cut.next().has_value());
  EXPECT_EQ(cut.rest(), partial);
  EXPECT_EQ(cut.relayedOutput(), 0u);
}

TEST(StreamCut, BlockEndingWithCrWaitsForTheNextByte) {
  StreamCut cut(request(Dialect::OpenAIChat), kWords, kNow);
  cut.feed("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\r\n\r");
  EXPECT_FALSE(cut.next().has_value());
  EXPECT_EQ(cut.relayedOutput(), 0u);  // not taken yet
  cut.feed("\ndata: [DONE]\r\r");
  auto b = cut.next();
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(b->bytes.ends_with("}\r\n\r\n"));
  EXPECT_EQ(b->outputTokens, 1u);
  cut.take();
  EXPECT_FALSE(cut.next().has_value());  // "\r\r": a LF could still follow
  cut.finish();
  b = cut.next();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->bytes, "data: [DONE]\r\r");
  cut.take();
  EXPECT_TRUE(cut.streamEnded());
}

TEST(StreamCut, KeepAlivesAndNonJsonDataCarryNoTokens) {
  const std::string s =
      ": keep-alive\n\n"
      ": ping\r\n\r\n"
      "\n"
      "event: ping\ndata: not json at all\n\n"
      "data: [\"a b\"]\n\n"
      R"(data: {"choices":[{"delta":{"content":"one two"}}]})"
      "\n\n";
  const Taken t = checkSplits(request(Dialect::OpenAIChat), s);
  EXPECT_EQ(t.joined, s);
  EXPECT_EQ(counts(t), (std::vector<uint64_t>{0, 0, 0, 0, 0, 2}));
  EXPECT_EQ(t.blocks[0].first, ": keep-alive\n\n");
  EXPECT_EQ(t.blocks[2].first, "\n");
}

TEST(StreamCut, UnsupportedDialectSplitsButNeverCounts) {
  const Taken t = checkSplits(request(Dialect::OllamaChat), kOpenAIChatStream);
  EXPECT_EQ(t.joined, kOpenAIChatStream);
  EXPECT_EQ(t.relayed, 0u);
  EXPECT_EQ(StreamCut(request(Dialect::OllamaChat), kWords, kNow).ending(1, 1), "");
}

TEST(StreamCut, OverlongBlockIsHandedOutInCapSizedPieces) {
  const std::string big =
      "data: {\"choices\":[{\"delta\":{\"content\":\"" + std::string(150, 'x') + "\"}}]}\n\n";
  const std::string s = big + kOpenAIChatBeforeUsage;
  const Taken t = checkSplits(request(Dialect::OpenAIChat), s, kWords, 64);
  EXPECT_EQ(t.joined, s);
  ASSERT_GE(t.blocks.size(), 4u);
  for (size_t i = 0; i < big.size() / 64; ++i) {
    EXPECT_EQ(t.blocks[i].first.size(), 64u) << i;
    EXPECT_EQ(t.blocks[i].second, 0u) << i;
  }
  // The default cap (16 MiB) with one 17 MiB event.
  StreamCut cut(request(Dialect::OpenAIChat), kWords, kNow);
  cut.feed("data: \"" + std::string(17u << 20, 'y'));
  auto b = cut.next();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->bytes.size(), StreamCut::kDefaultMaxBlockBytes);
  EXPECT_EQ(b->outputTokens, 0u);
  cut.take();
  EXPECT_FALSE(cut.next().has_value());
  EXPECT_EQ(cut.bufferedBytes(), (17u << 20) + 7 - StreamCut::kDefaultMaxBlockBytes);
}

}  // namespace
}  // namespace tg::usage
