// ResponseTracker: every response format of wire-formats.md §1, fed whole, byte by byte and in
// random splits (fixed seed); the forwarded bytes and the usage must not depend on the split.

#include "usage/response_tracker.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "samples.h"

namespace tg::usage {
namespace {

using namespace samples;

RequestInfo request(Dialect dialect, bool stream = true, uint64_t promptEstimate = 100) {
  RequestInfo r;
  r.dialect = dialect;
  r.model = "m";
  r.stream = stream;
  r.promptEstimate = promptEstimate;
  return r;
}

struct Outcome {
  std::string out;
  Usage usage;
  bool sawError = false;
  bool stripped = false;
};

Outcome run(const RequestInfo& req, std::string_view contentType,
            const std::vector<std::string_view>& pieces, bool strip = false, bool complete = true,
            int status = 200, const TokenCounter& counter = {}) {
  ResponseTracker t(req, status, contentType, strip, counter);
  Outcome r;
  for (std::string_view p : pieces) {
    t.feed(p, r.out);
  }
  t.finish(complete, r.out);
  r.usage = t.usage();
  r.sawError = t.sawError();
  r.stripped = t.usageChunkStripped();
  return r;
}

// Feeds `body` whole, byte by byte, and in 30 random splits; checks every run forwards
// `expectedOut` and reports the same usage; returns the usage.
Usage checkAllSplits(const RequestInfo& req, std::string_view contentType, std::string_view body,
                     std::string_view expectedOut, bool strip = false) {
  Outcome whole = run(req, contentType, {body}, strip);
  EXPECT_EQ(whole.out, expectedOut);
  Outcome bytes = run(req, contentType, splitBytes(body), strip);
  EXPECT_EQ(bytes.out, expectedOut) << "byte by byte";
  EXPECT_EQ(bytes.usage, whole.usage) << "byte by byte";
  std::mt19937 rng(20240601);
  for (int i = 0; i < 30; ++i) {
    Outcome split = run(req, contentType, splitRandom(body, rng, i < 15 ? 8 : 300), strip);
    EXPECT_EQ(split.out, expectedOut) << "random split " << i;
    EXPECT_EQ(split.usage, whole.usage) << "random split " << i;
  }
  return whole.usage;
}

Usage checkAllSplits(const RequestInfo& req, std::string_view contentType, std::string_view body) {
  return checkAllSplits(req, contentType, body, body);
}

constexpr std::string_view kSse = "text/event-stream; charset=utf-8";
constexpr std::string_view kJson = "application/json";

// ---- provider-reported usage, every format -------------------------------------------------

TEST(ResponseTracker, OpenAIChatStreamUsageChunk) {
  EXPECT_EQ(checkAllSplits(request(Dialect::OpenAIChat), kSse, kOpenAIChatStream),
            kOpenAIChatUsage);
}

TEST(ResponseTracker, OpenAIChatStreamCrlfAndCrOnly) {
  for (std::string_view eol : {"\r\n", "\r"}) {
    std::string body = withLineEnd(kOpenAIChatStream, eol);
    EXPECT_EQ(checkAllSplits(request(Dialect::OpenAIChat), kSse, body), kOpenAIChatUsage);
  }
}

TEST(ResponseTracker, OpenAIChatJsonBody) {
  EXPECT_EQ(checkAllSplits(request(Dialect::OpenAIChat, false), kJson, kOpenAIChatJson),
            kOpenAIChatUsage);
}

TEST(ResponseTracker, ResponsesStreamCompleted) {
  EXPECT_EQ(checkAllSplits(request(Dialect::OpenAIResponses), kSse, kResponsesStream),
            kResponsesUsage);
}

TEST(ResponseTracker, ResponsesIncompleteAndFailedCarryUsage) {
  for (std::string_view type : {"response.incomplete", "response.failed"}) {
    std::string body =
        std::string("event: ") + std::string(type) + "\ndata: {\"type\":\"" + std::string(type) +
        R"(","response":{"status":"x","usage":{"input_tokens":10,"output_tokens":5,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":15}}})"
        "\n\n";
    Outcome r = run(request(Dialect::OpenAIResponses), kSse, {body});
    EXPECT_EQ(r.usage, (Usage{10, 0, 0, 5, 2, 15, true, false})) << type;
    EXPECT_EQ(r.sawError, type == "response.failed");
  }
}

TEST(ResponseTracker, ResponsesJsonBody) {
  std::string body =
      R"({"id":"resp_1","object":"response","status":"completed","error":null,"output":[{"type":"message","content":[{"type":"output_text","text":"Hi"}]}],"usage":{"input_tokens":1200,"input_tokens_details":{"cached_tokens":1024},"output_tokens":310,"output_tokens_details":{"reasoning_tokens":256},"total_tokens":1510}})";
  Outcome r = run(request(Dialect::OpenAIResponses, false), kJson, {body});
  EXPECT_EQ(r.usage, kResponsesUsage);
  EXPECT_FALSE(r.sawError);  // "error": null is not an error
}

TEST(ResponseTracker, LegacyCompletionsStream) {
  EXPECT_EQ(checkAllSplits(request(Dialect::OpenAICompletions), kSse, kCompletionsStream),
            kCompletionsUsage);
}

TEST(ResponseTracker, EmbeddingsJson) {
  EXPECT_EQ(checkAllSplits(request(Dialect::OpenAIEmbeddings, false), kJson, kEmbeddingsJson),
            kEmbeddingsUsage);
}

TEST(ResponseTracker, AnthropicStreamKeepsLastMessageDeltaNotSum) {
  Usage u = checkAllSplits(request(Dialect::Anthropic), kSse, kAnthropicStream);
  EXPECT_EQ(u, kAnthropicUsage);
  EXPECT_EQ(u.outputTokens, 310u);  // not 100 + 310
}

TEST(ResponseTracker, AnthropicMessageDeltaOverridesInputFields) {
  std::string body =
      kAnthropicStart + "event: message_delta\n" +
      R"(data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":200,"cache_read_input_tokens":1000,"output_tokens":42}})" +
      "\n\n";
  Outcome r = run(request(Dialect::Anthropic), kSse, {body});
  EXPECT_EQ(r.usage, (Usage{1200, 1000, 0, 42, 0, 1242, true, false}));
}

TEST(ResponseTracker, AnthropicJsonAddsCacheTokensToInput) {
  EXPECT_EQ(checkAllSplits(request(Dialect::Anthropic, false), kJson, kAnthropicJson),
            kAnthropicJsonUsage);
}

TEST(ResponseTracker, AnthropicErrorEventMidStream) {
  std::string body =
      kAnthropicStart +
      "event: error\n"
      R"(data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"
      "\n\n";
  Outcome r = run(request(Dialect::Anthropic, true, 500), kSse, {body});
  EXPECT_TRUE(r.sawError);
  // Input reported by message_start; output estimated from the relayed text (41 bytes -> 11).
  EXPECT_EQ(r.usage.inputTokens, 1200u);
  EXPECT_EQ(r.usage.outputTokens, 11u);
  EXPECT_TRUE(r.usage.reported);
  EXPECT_TRUE(r.usage.estimated);
}

TEST(ResponseTracker, GeminiSseCrlfCumulativeUsageMetadata) {
  std::string body = withLineEnd(kGeminiSseLf, "\r\n");
  Usage u = checkAllSplits(request(Dialect::GeminiStreamSse), kSse, body);
  EXPECT_EQ(u, kGeminiUsage);  // the last usageMetadata, never the sum
}

TEST(ResponseTracker, GeminiStreamedJsonArray) {
  ResponseTracker probe(request(Dialect::GeminiStream), 200, kJson, false, {});
  EXPECT_EQ(probe.framing(), ResponseTracker::Framing::JsonArray);
  EXPECT_EQ(checkAllSplits(request(Dialect::GeminiStream), kJson, kGeminiArray), kGeminiUsage);
}

TEST(ResponseTracker, GeminiArrayCutEstimatesFromElementsText) {
  // Cut inside the second element: only the first element's usage is known (candidates 2),
  // and the relayed text is "Hel" (1 token): the reported cumulative figure wins.
  std::string cut = kGeminiArray.substr(0, kGeminiArray.size() - 40);
  Outcome r = run(request(Dialect::GeminiStream), kJson, {cut}, false, false);
  EXPECT_EQ(r.usage.inputTokens, 1200u);
  EXPECT_EQ(r.usage.outputTokens, 2u);
  EXPECT_TRUE(r.usage.reported);
}

TEST(ResponseTracker, GeminiErrorArray) {
  Outcome r = run(
      request(Dialect::GeminiStream), kJson,
      {R"([{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}])"});
  EXPECT_TRUE(r.sawError);
}

TEST(ResponseTracker, GeminiGenerateJson) {
  EXPECT_EQ(checkAllSplits(request(Dialect::GeminiGenerate, false), kJson, kGeminiJson),
            kGeminiUsage);
}

TEST(ResponseTracker, GeminiToolUsePromptAddsToInput) {
  std::string body =
      R"({"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":100,"toolUsePromptTokenCount":20,"candidatesTokenCount":5,"totalTokenCount":125}})";
  Outcome r = run(request(Dialect::GeminiGenerate, false), kJson, {body});
  EXPECT_EQ(r.usage, (Usage{120, 0, 0, 5, 0, 125, true, false}));
}

TEST(ResponseTracker, OllamaChatNdjson) {
  ResponseTracker probe(request(Dialect::OllamaChat), 200, "application/x-ndjson", false, {});
  EXPECT_EQ(probe.framing(), ResponseTracker::Framing::Ndjson);
  EXPECT_EQ(checkAllSplits(request(Dialect::OllamaChat), "application/x-ndjson", kOllamaChatNdjson),
            kOllamaUsage);
}

TEST(ResponseTracker, OllamaGenerateWithoutTrailingNewline) {
  EXPECT_EQ(checkAllSplits(request(Dialect::OllamaGenerate), "application/x-ndjson",
                           kOllamaGenerateNdjson),
            kOllamaUsage);
}

TEST(ResponseTracker, OllamaStreamWithoutContentTypeIsNdjson) {
  ResponseTracker probe(request(Dialect::OllamaChat), 200, "", false, {});
  EXPECT_EQ(probe.framing(), ResponseTracker::Framing::Ndjson);
}

TEST(ResponseTracker, OllamaMissingPromptEvalCountUsesPromptEstimate) {
  std::string body = R"({"message":{"content":"x"},"done":true,"eval_count":18})";
  Outcome r = run(request(Dialect::OllamaChat, true, 77), "application/x-ndjson", {body});
  EXPECT_EQ(r.usage, (Usage{77, 0, 0, 18, 0, 95, true, true}));
}

TEST(ResponseTracker, LlamaCppTimingsFallback) {
  EXPECT_EQ(checkAllSplits(request(Dialect::OpenAIChat), kSse, kLlamaCppStream), kLlamaCppUsage);
}

TEST(ResponseTracker, UsageWinsOverTimings) {
  std::string body =
      kLlamaCppStream.substr(0, kLlamaCppStream.size() - kDone.size()) +
      R"(data: {"choices":[],"usage":{"prompt_tokens":25,"completion_tokens":8,"total_tokens":33}})" +
      "\n\n" + kDone;
  Outcome r = run(request(Dialect::OpenAIChat), kSse, {body});
  EXPECT_EQ(r.usage, (Usage{25, 0, 0, 8, 0, 33, true, false}));
}

TEST(ResponseTracker, AzureFirstChunkAndOllamaZeroFilledUsage) {
  // Azure: a first chunk with empty choices and prompt_filter_results, no usage.
  // Ollama /v1/completions: zero-filled usage on every content chunk; the last one wins.
  std::string body =
      R"(data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]})"
      "\n\n"
      R"(data: {"choices":[{"text":"a","index":0,"finish_reason":null}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}})"
      "\n\n"
      R"(data: {"choices":[{"text":"b","index":0,"finish_reason":"stop"}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}})"
      "\n\n"
      R"(data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}})"
      "\n\n" +
      kDone;
  EXPECT_EQ(checkAllSplits(request(Dialect::OpenAICompletions), kSse, body),
            (Usage{12, 0, 0, 2, 0, 14, true, false}));
}

TEST(ResponseTracker, DeepSeekCacheHitTokens) {
  std::string body =
      R"({"choices":[{"message":{"content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":10,"total_tokens":110,"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}})";
  Outcome r = run(request(Dialect::OpenAIChat, false), kJson, {body});
  EXPECT_EQ(r.usage, (Usage{100, 64, 0, 10, 0, 110, true, false}));
}

TEST(ResponseTracker, MultiLineDataIsJoinedBeforeParsing) {
  std::string body =
      "data: {\"choices\":[],\n"
      "data: \"usage\":{\"prompt_tokens\":3,\n"
      "data: \"completion_tokens\":4,\"total_tokens\":7}}\n\n";
  Outcome r = run(request(Dialect::OpenAIChat), kSse, {body});
  EXPECT_EQ(r.usage, (Usage{3, 0, 0, 4, 0, 7, true, false}));
}

TEST(ResponseTracker, AbsurdNumbersAreClamped) {
  std::string body =
      R"({"usage":{"prompt_tokens":18446744073709551615,"completion_tokens":-5,"total_tokens":1e300,"prompt_tokens_details":{"cached_tokens":"123"}}})";
  Outcome r = run(request(Dialect::OpenAIChat, false), kJson, {body});
  EXPECT_EQ(r.usage.inputTokens, kMaxTokenCount);
  EXPECT_EQ(r.usage.outputTokens, 0u);
  EXPECT_EQ(r.usage.cachedInputTokens, 123u);
  EXPECT_EQ(r.usage.totalTokens, kMaxTokenCount);
}

TEST(ResponseTracker, HugeJsonBodyStillYieldsUsage) {
  // 3 MiB of content before the usage: pruned on the fly, never buffered whole.
  std::string body = R"({"choices":[{"message":{"content":")" + std::string(3 << 20, 'a') +
                     R"("},"finish_reason":"stop"}],"data":[)";
  for (int i = 0; i < 20000; ++i) {
    body += "0.0123,";
  }
  body += R"(1],"usage":{"prompt_tokens":9,"completion_tokens":8,"total_tokens":17}})";
  std::mt19937 rng(7);
  Outcome r = run(request(Dialect::OpenAIChat, false), kJson, splitRandom(body, rng, 70000));
  EXPECT_EQ(r.out, body);
  EXPECT_EQ(r.usage, (Usage{9, 0, 0, 8, 0, 17, true, false}));
}

TEST(ResponseTracker, UnterminatedFinalEventCountsForAccounting) {
  // The upstream closed without the blank line after the usage chunk: not dispatched to the
  // client (WHATWG), but its usage was generated and is charged.
  std::string body =
      kOpenAIChatBeforeUsage + kOpenAIChatUsageEvent.substr(0, kOpenAIChatUsageEvent.size() - 2);
  Outcome r = run(request(Dialect::OpenAIChat), kSse, {body});
  EXPECT_EQ(r.out, body);
  EXPECT_EQ(r.usage, kOpenAIChatUsage);
}

// Every sample, with every line ending an SSE stream may use, stripping on and off: the
// property of checkAllSplits (forwarded bytes and usage independent of the split).
TEST(ResponseTracker, EverySampleEveryLineEndingEverySplit) {
  struct Sample {
    const char* name;
    Dialect dialect;
    std::string_view contentType;
    const std::string* body;
    Usage expected;
    bool strippable;  // carries an OpenAI usage chunk the tracker may strip
  } cases[] = {
      {"openai_chat", Dialect::OpenAIChat, kSse, &kOpenAIChatStream, kOpenAIChatUsage, true},
      {"responses", Dialect::OpenAIResponses, kSse, &kResponsesStream, kResponsesUsage, false},
      {"completions", Dialect::OpenAICompletions, kSse, &kCompletionsStream, kCompletionsUsage,
       true},
      {"anthropic", Dialect::Anthropic, kSse, &kAnthropicStream, kAnthropicUsage, false},
      {"gemini_sse", Dialect::GeminiStreamSse, kSse, &kGeminiSseLf, kGeminiUsage, false},
      {"llama_cpp", Dialect::OpenAIChat, kSse, &kLlamaCppStream, kLlamaCppUsage, false},
  };
  for (const Sample& c : cases) {
    for (std::string_view eol : {"\n", "\r\n", "\r"}) {
      std::string body = withLineEnd(*c.body, eol);
      SCOPED_TRACE(std::string(c.name) + " eol=" +
                   (eol == "\n"   ? "LF"
                    : eol == "\r" ? "CR"
                                  : "CRLF"));
      EXPECT_EQ(checkAllSplits(request(c.dialect), c.contentType, body), c.expected);
      Outcome stripped = run(request(c.dialect), c.contentType, {body}, true);
      EXPECT_EQ(stripped.usage, c.expected);
      EXPECT_EQ(stripped.out.size() < body.size(), c.strippable);
    }
  }
}

// ---- status, errors ------------------------------------------------------------------------

TEST(ResponseTracker, Non2xxIsPassThroughWithZeroUsage) {
  std::string body =
      R"({"error":{"message":"Rate limit","type":"tokens","code":"rate_limit_exceeded"},"usage":{"prompt_tokens":5}})";
  for (int status : {429, 500, 400, 302}) {
    Outcome r = run(request(Dialect::OpenAIChat, false), kJson, {body}, false, true, status);
    EXPECT_EQ(r.out, body);
    EXPECT_EQ(r.usage, Usage{});
    EXPECT_FALSE(r.sawError);
  }
}

TEST(ResponseTracker, OpenAIErrorChunkAfter200) {
  std::string body =
      std::string(R"(data: {"error":{"message":"server_error","type":"server_error"}})") + "\n\n";
  Outcome r = run(request(Dialect::OpenAIChat), kSse, {body});
  EXPECT_TRUE(r.sawError);
}

TEST(ResponseTracker, CommentsKeepAlivesAndNonJsonDataPassThrough) {
  std::string body =
      ": OPENROUTER PROCESSING\n\n" + std::string("data: not json\n\n") + kOpenAIChatStream;
  EXPECT_EQ(checkAllSplits(request(Dialect::OpenAIChat), kSse, body), kOpenAIChatUsage);
}

// ---- estimates -----------------------------------------------------------------------------

TEST(ResponseTracker, CutStreamWithoutUsageIsEstimatedNeverZero) {
  // Cut after the two content deltas ("Hi!" + " How can I help?" = 19 bytes -> 5 tokens).
  std::string body = kOpenAIChatBeforeUsage.substr(0, kOpenAIChatBeforeUsage.rfind("data:"));
  for (bool complete : {false, true}) {
    Outcome r = run(request(Dialect::OpenAIChat, true, 321), kSse, {body}, false, complete);
    EXPECT_EQ(r.usage, (Usage{321, 0, 0, 5, 0, 326, false, true}));
  }
  // A single relayed byte is one token, never zero.
  Outcome one = run(request(Dialect::OpenAIChat), kSse,
                    {R"(data: {"choices":[{"delta":{"content":"x"}}]})"
                     "\n\n"},
                    false, false);
  EXPECT_EQ(one.usage.outputTokens, 1u);
  // Nothing relayed: the prompt estimate alone.
  Outcome none = run(request(Dialect::OpenAIChat, true, 40), kSse, {}, false, false);
  EXPECT_EQ(none.usage, (Usage{40, 0, 0, 0, 0, 40, false, true}));
}

TEST(ResponseTracker, CutAnthropicStreamAfterMessageStart) {
  Outcome r = run(request(Dialect::Anthropic), kSse, {kAnthropicStart}, false, false);
  EXPECT_EQ(r.usage.inputTokens, 1200u);
  EXPECT_EQ(r.usage.outputTokens, 11u);  // 41 bytes of text, not message_start's 1
  EXPECT_TRUE(r.usage.reported && r.usage.estimated);
}

TEST(ResponseTracker, FinalUsageIsTrustedEvenIfCutAfterIt) {
  std::string body = kOpenAIChatBeforeUsage + kOpenAIChatUsageEvent;  // no [DONE]
  Outcome r = run(request(Dialect::OpenAIChat), kSse, {body}, false, false);
  EXPECT_EQ(r.usage, kOpenAIChatUsage);
}

TEST(ResponseTracker, CumulativeUsageOfCutStreamIsAtLeastTheRelayedText) {
  // vLLM continuous_usage_stats: usage on every content chunk (cumulative, not final).
  std::string body =
      R"(data: {"choices":[{"delta":{"content":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"finish_reason":null}],"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8}})"
      "\n\n";
  Outcome cut = run(request(Dialect::OpenAIChat), kSse, {body}, false, false);
  EXPECT_EQ(cut.usage, (Usage{7, 0, 0, 10, 0, 17, true, true}));
  Outcome complete = run(request(Dialect::OpenAIChat), kSse, {body}, false, true);
  EXPECT_EQ(complete.usage, (Usage{7, 0, 0, 1, 0, 8, true, false}));
}

TEST(ResponseTracker, EstimatesUseTheInjectedCounter) {
  int calls = 0;
  TokenCounter words = [&calls](std::string_view text) -> uint64_t {
    ++calls;
    uint64_t n = 0;
    bool in = false;
    for (char c : text) {
      if (c != ' ' && !in) {
        ++n;
      }
      in = c != ' ';
    }
    return n;
  };
  std::string body = kAnthropicStart;
  ResponseTracker t(request(Dialect::Anthropic), 200, kSse, false, words);
  std::string out;
  t.feed(body, out);
  t.finish(false, out);
  EXPECT_EQ(t.usage().outputTokens, 9u);  // "Hi! Let me think about that for a moment."
  EXPECT_EQ(t.usage().outputTokens, 9u);
  EXPECT_EQ(calls, 1);  // cached between calls
}

TEST(ResponseTracker, JsonBodyWithoutUsageEstimatesTheAnswerText) {
  // Only "hello" (5 bytes -> 2), not the 45 bytes of JSON around it.
  std::string body = R"({"choices":[{"message":{"content":"hello"}}]})";
  Outcome r = run(request(Dialect::OpenAIChat, false, 10), kJson, {body}, false, true);
  EXPECT_EQ(r.usage, (Usage{10, 0, 0, 2, 0, 12, false, true}));
  Outcome emb = run(request(Dialect::OpenAIEmbeddings, false, 10), kJson, {R"({"data":[]})"});
  EXPECT_EQ(emb.usage, (Usage{10, 0, 0, 0, 0, 10, false, true}));
}

TEST(ResponseTracker, UnknownDialectReportsButNeverEstimates) {
  Outcome r = run(request(Dialect::Unknown), kJson, {R"({"data":[{"id":"gpt-4o"}]})"});
  EXPECT_EQ(r.usage, Usage{});
  Outcome reported = run(request(Dialect::Unknown), kJson, {kOpenAIChatJson});
  EXPECT_EQ(reported.usage, kOpenAIChatUsage);
}

TEST(ResponseTracker, CollectedTextIsCappedAndTheRestCountedAsBytes) {
  std::string delta(1 << 20, 'x');
  std::string event = R"(data: {"choices":[{"delta":{"content":")" + delta +
                      R"("}}]})"
                      "\n\n";
  ResponseTracker t(request(Dialect::OpenAIChat, true, 0), 200, kSse, false, {});
  std::string out;
  for (int i = 0; i < 6; ++i) {
    out.clear();
    t.feed(event, out);
  }
  t.finish(false, out);
  EXPECT_EQ(t.usage().outputTokens, (6u << 20) / 4);
}

TEST(ResponseTracker, ReasoningAndToolCallTextCountsAsOutput) {
  std::string body =
      R"(data: {"choices":[{"delta":{"reasoning_content":"abcd"}}]})"
      "\n\n"
      R"(data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"get","arguments":"{\"a\":1}"}}]}}]})"
      "\n\n"
      "event: response.reasoning_summary_text.delta\n"
      R"(data: {"type":"response.reasoning_summary_text.delta","delta":"efgh"})"
      "\n\n"
      "event: response.audio.delta\n"
      R"(data: {"type":"response.audio.delta","delta":"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"})"
      "\n\n";
  // "abcd" + "get" + {"a":1} + "efgh" = 18 bytes -> 5; the audio delta (base64) does not count.
  Outcome r = run(request(Dialect::OpenAIChat, true, 0), kSse, {body}, false, false);
  EXPECT_EQ(r.usage.outputTokens, 5u);
}

TEST(ResponseTracker, UsageBeforeFinishIsARunningFigure) {
  ResponseTracker t(request(Dialect::OpenAIChat, true, 50), 200, kSse, false, {});
  std::string out;
  t.feed(kOpenAIChatBeforeUsage, out);
  Usage running = t.usage();
  EXPECT_TRUE(running.estimated);
  EXPECT_EQ(running.outputTokens, 5u);
  t.feed(kOpenAIChatUsageEvent + kDone, out);
  EXPECT_EQ(t.usage(), kOpenAIChatUsage);
  EXPECT_EQ(t.eventsSeen(), 6u);
}

// ---- stripping the injected usage chunk ----------------------------------------------------

TEST(ResponseTrackerStrip, RemovesExactlyTheUsageEvent) {
  // ... and the "usage":null the upstream added to every other chunk (see NullUsage below).
  std::string expected = withoutNullUsage(kOpenAIChatBeforeUsage) + kDone;
  Usage u = checkAllSplits(request(Dialect::OpenAIChat), kSse, kOpenAIChatStream, expected, true);
  EXPECT_EQ(u, kOpenAIChatUsage);
  EXPECT_TRUE(run(request(Dialect::OpenAIChat), kSse, {kOpenAIChatStream}, true).stripped);
}

TEST(ResponseTrackerStrip, CrlfAndCrLineEndsIncludingSplitTerminator) {
  for (std::string_view eol : {"\r\n", "\r"}) {
    std::string body = withLineEnd(kOpenAIChatStream, eol);
    std::string expected = withLineEnd(withoutNullUsage(kOpenAIChatBeforeUsage) + kDone, eol);
    EXPECT_EQ(checkAllSplits(request(Dialect::OpenAIChat), kSse, body, expected, true),
              kOpenAIChatUsage);
  }
  // The usage event's final CR ends one feed and its LF starts the next: both go.
  std::string body = withLineEnd(kOpenAIChatStream, "\r\n");
  std::string head = withLineEnd(kOpenAIChatBeforeUsage + kOpenAIChatUsageEvent, "\r\n");
  std::string_view b = body;
  Outcome r = run(request(Dialect::OpenAIChat), kSse,
                  {b.substr(0, head.size() - 1), b.substr(head.size() - 1)}, true);
  EXPECT_EQ(r.out, withLineEnd(withoutNullUsage(kOpenAIChatBeforeUsage) + kDone, "\r\n"));
}

TEST(ResponseTrackerStrip, LegacyCompletions) {
  std::string usageEvent =
      R"(data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"gpt-3.5-turbo-instruct","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}})"
      "\n\n";
  std::string expected = kCompletionsStream;
  expected.erase(expected.find(usageEvent), usageEvent.size());
  expected = withoutNullUsage(expected);
  EXPECT_EQ(
      checkAllSplits(request(Dialect::OpenAICompletions), kSse, kCompletionsStream, expected, true),
      kCompletionsUsage);
}

TEST(ResponseTrackerStrip, KeepsAzureFilterChunkAndUsageOnContentChunks) {
  std::string azure =
      R"(data: {"choices":[],"created":0,"id":"","prompt_filter_results":[{"prompt_index":0}]})"
      "\n\n";
  std::string content =
      R"(data: {"choices":[{"text":"a","finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})"
      "\n\n";
  std::string body = azure + content + kDone;
  Outcome r = run(request(Dialect::OpenAICompletions), kSse, {body}, true);
  EXPECT_EQ(r.out, body);
  EXPECT_FALSE(r.stripped);
}

TEST(ResponseTrackerStrip, OnlyForOpenAIStyleDialects) {
  // An Anthropic message_delta has usage and no choices: never stripped.
  Outcome r = run(request(Dialect::Anthropic), kSse, {kAnthropicStream}, true);
  EXPECT_EQ(r.out, kAnthropicStream);
  EXPECT_EQ(r.usage, kAnthropicUsage);
}

TEST(ResponseTrackerStrip, HoldsOnlyTheUnfinishedEvent) {
  ResponseTracker t(request(Dialect::OpenAIChat), 200, kSse, true, {});
  std::string out;
  std::string before = withoutNullUsage(kOpenAIChatBeforeUsage);  // forwarded as is
  std::string_view first = before;
  // A complete event and half of the next: the complete one is forwarded at once.
  size_t firstEnd = first.find("\n\n") + 2;
  t.feed(first.substr(0, firstEnd + 10), out);
  EXPECT_EQ(out, first.substr(0, firstEnd));
  out.clear();
  t.feed(first.substr(firstEnd + 10), out);
  EXPECT_EQ(out, first.substr(firstEnd));
  // The usage event is held until complete, then dropped; [DONE] passes.
  out.clear();
  t.feed(std::string_view(kOpenAIChatUsageEvent).substr(0, 50), out);
  EXPECT_EQ(out, "");
  t.feed(std::string_view(kOpenAIChatUsageEvent).substr(50), out);
  EXPECT_EQ(out, "");
  t.feed(kDone, out);
  EXPECT_EQ(out, kDone);
}

TEST(ResponseTrackerStrip, FinishFlushesAHeldPartialEvent) {
  std::string partial = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1";
  Outcome r =
      run(request(Dialect::OpenAIChat), kSse, {kOpenAIChatBeforeUsage, partial}, true, false);
  EXPECT_EQ(r.out, withoutNullUsage(kOpenAIChatBeforeUsage) + partial);
}

// ---- stripping "usage": null (the upstream adds it to every chunk once include_usage is set)

// The simulator's chunk from the bug report, and what the client gets without include_usage.
const std::string kSimNullChunk =
    R"(data: {"id":"chatcmpl-sim-000001","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","system_fingerprint":"fp_sim","choices":[{"index":0,"delta":{"content":" the"},"logprobs":null,"finish_reason":null}],"usage":null})"
    "\n\n";
const std::string kSimPlainChunk =
    R"(data: {"id":"chatcmpl-sim-000001","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","system_fingerprint":"fp_sim","choices":[{"index":0,"delta":{"content":" the"},"logprobs":null,"finish_reason":null}]})"
    "\n\n";

TEST(ResponseTrackerNullUsage, SimulatorChunkIsForwardedAsWithoutIncludeUsage) {
  std::string body = kSimNullChunk + kDone;
  Usage u = checkAllSplits(request(Dialect::OpenAIChat), kSse, body, kSimPlainChunk + kDone, true);
  EXPECT_EQ(u.outputTokens, 1u);  // " the", estimated: the stream carried no usage
  ResponseTracker t(request(Dialect::OpenAIChat), 200, kSse, true, {});
  std::string out;
  t.feed(body, out);
  EXPECT_EQ(t.nullUsageMembersRemoved(), 1u);
  EXPECT_FALSE(t.usageChunkStripped());
}

TEST(ResponseTrackerNullUsage, WholeInjectedStreamEqualsThePlainOne) {
  // With the final usage chunk removed too, the client stream is byte-identical to the one the
  // upstream sends without include_usage, whatever the split and line ending.
  for (std::string_view eol : {"\n", "\r\n", "\r"}) {
    std::string body = withLineEnd(kOpenAIChatStream, eol);
    std::string plain = withLineEnd(withoutNullUsage(kOpenAIChatBeforeUsage) + kDone, eol);
    EXPECT_EQ(checkAllSplits(request(Dialect::OpenAIChat), kSse, body, plain, true),
              kOpenAIChatUsage);
    std::string completions = withLineEnd(kCompletionsStream, eol);
    Outcome r = run(request(Dialect::OpenAICompletions), kSse, {completions}, true);
    EXPECT_EQ(r.out.find("usage"), std::string::npos) << r.out;
    EXPECT_EQ(r.usage, kCompletionsUsage);
  }
}

TEST(ResponseTrackerNullUsage, SpacingAndPositionOfTheMember) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      // Python servers: ", " and ": " separators.
      {R"({"id": "x", "choices": [{"delta": {"content": "a"}}], "usage": null})",
       R"({"id": "x", "choices": [{"delta": {"content": "a"}}]})"},
      {R"({"id":"x","choices":[],"usage" : null })", R"({"id":"x","choices":[] })"},
      {"{\"id\":\"x\", \t\"usage\":\tnull}", "{\"id\":\"x\"}"},
      // First member: the comma after it goes.
      {R"({"usage":null,"id":"x","choices":[]})", R"({"id":"x","choices":[]})"},
      {R"({ "usage": null, "id": "x"})", R"({ "id": "x"})"},
      // In the middle.
      {R"({"id":"x","usage":null,"choices":[]})", R"({"id":"x","choices":[]})"},
      // The only member.
      {R"({"usage":null})", R"({})"},
  };
  for (const Case& c : cases) {
    std::string in = std::string("data: ") + c.in + "\n\n";
    std::string out = std::string("data: ") + c.out + "\n\n";
    SCOPED_TRACE(c.in);
    checkAllSplits(request(Dialect::OpenAIChat), kSse, in, out, true);
  }
}

TEST(ResponseTrackerNullUsage, OnlyTheTopLevelMemberIsRemoved) {
  // Nested "usage": null members, and "usage":null inside strings, are content: kept.
  const char* kept[] = {
      R"({"choices":[{"delta":{"content":"a"},"usage":null}]})",
      R"({"choices":[{"delta":{"content":"\"usage\":null"}}]})",
      R"({"choices":[{"delta":{"content":"x\\"}}],"meta":{"usage":null}})",
      R"({"choices":[],"meta":{"usage":null},"usage":{"prompt_tokens":1}})",
  };
  for (const char* json : kept) {
    std::string body = std::string("data: ") + json + "\n\n";
    SCOPED_TRACE(json);
    Outcome r = run(request(Dialect::OpenAIChat), kSse, {body}, true);
    if (std::string_view(json).find(R"("usage":{)") == std::string_view::npos) {
      EXPECT_EQ(r.out, body);
    }
  }
  // Nested ones before and after the top-level one: only the top-level one goes.
  std::string body =
      R"(data: {"a":{"usage":null},"choices":[{"delta":{"content":"\"usage\":null"},"usage":null}],"usage":null,"b":[{"usage":null}]})"
      "\n\n";
  std::string want =
      R"(data: {"a":{"usage":null},"choices":[{"delta":{"content":"\"usage\":null"},"usage":null}],"b":[{"usage":null}]})"
      "\n\n";
  checkAllSplits(request(Dialect::OpenAIChat), kSse, body, want, true);
}

// Random chunks: members with nested "usage": null, strings holding quotes, brackets and
// `"usage":null`, blanks after commas and around colons, and the top-level member at a random
// place. Forwarded: exactly the chunk serialised without that member.
TEST(ResponseTrackerNullUsage, RandomChunksLoseExactlyTheTopLevelMember) {
  std::mt19937 rng(99);
  auto pick = [&rng](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  auto blanks = [&]() { return std::string(pick(3), " \t"[pick(2)]); };
  std::function<std::string(int)> value = [&](int depth) -> std::string {
    switch (depth > 2 ? pick(3) : pick(6)) {
      case 0:
        return "null";
      case 1:
        return std::to_string(pick(1000));
      case 2: {
        const char* texts[] = {R"("a")", R"("\"usage\":null")", R"("}]{[")", R"("x\\")",
                               R"("\\\"usage\":null,")", R"("usage")"};
        return texts[pick(6)];
      }
      case 3:
        return "[" + value(depth + 1) + "," + blanks() + value(depth + 1) + "]";
      default: {
        std::string o = "{";
        size_t n = pick(3);
        for (size_t i = 0; i < n; ++i) {
          if (i > 0) {
            o += "," + blanks();
          }
          o += pick(2) == 0 ? R"("usage":null)" : "\"k" + std::to_string(i) + "\":" + value(depth + 1);
        }
        return o + "}";
      }
    }
  };
  // Blanks only after commas (and after '{' / before '}'), as servers write them: then the
  // removal (the comma before the member, or for the first one the comma and blanks after it)
  // gives exactly the serialisation without the member.
  auto serialise = [](const std::string& lead, const std::vector<std::string>& ms,
                      const std::vector<std::string>& seps, const std::string& trail) {
    std::string o = "{" + lead;
    for (size_t i = 0; i < ms.size(); ++i) {
      o += (i > 0 ? "," + seps[i] : "") + ms[i];
    }
    return o + trail + "}";
  };
  for (int iter = 0; iter < 300; ++iter) {
    std::vector<std::string> members;
    size_t n = pick(5);
    for (size_t i = 0; i < n; ++i) {
      members.push_back("\"m" + std::to_string(i) + "\"" + blanks() + ":" + blanks() + value(1));
    }
    size_t at = pick(n + 1);
    members.insert(members.begin() + static_cast<long>(at),
                   "\"usage\"" + blanks() + ":" + blanks() + "null");
    std::vector<std::string> seps;
    for (size_t i = 0; i < members.size(); ++i) {
      seps.push_back(blanks());
    }
    std::string lead = blanks();
    std::string trail = blanks();
    std::string in = "data: " + serialise(lead, members, seps, trail) + "\n\n";
    std::vector<std::string> rest = members;
    rest.erase(rest.begin() + static_cast<long>(at));
    std::vector<std::string> restSeps = seps;
    size_t dropSep = at > 0 ? at : 1;
    if (dropSep < restSeps.size()) {
      restSeps.erase(restSeps.begin() + static_cast<long>(dropSep));
    }
    std::string want = "data: " + serialise(lead, rest, restSeps, trail) + "\n\n";
    SCOPED_TRACE(in);
    checkAllSplits(request(Dialect::OpenAIChat), kSse, in, want, true);
  }
}

TEST(ResponseTrackerNullUsage, OtherFieldsCommentsBomAndMultiLineData) {
  // event/id fields and comments around the data line are kept byte for byte.
  std::string body = std::string(": keep-alive\nevent: message\nid: 7\n") +
                     R"(data: {"choices":[{"delta":{"content":"a"}}],"usage":null})" +
                     "\nretry: 10\n\n" + kDone;
  std::string want = std::string(": keep-alive\nevent: message\nid: 7\n") +
                     R"(data: {"choices":[{"delta":{"content":"a"}}]})" + "\nretry: 10\n\n" +
                     kDone;
  checkAllSplits(request(Dialect::OpenAIChat), kSse, body, want, true);
  // A BOM at the start of the stream, and "data:" without the space.
  std::string bom = "\xEF\xBB\xBF" + std::string(R"(data:{"choices":[],"usage":null})") + "\n\n";
  checkAllSplits(request(Dialect::OpenAIChat), kSse, bom,
                 "\xEF\xBB\xBF" + std::string(R"(data:{"choices":[]})") + "\n\n", true);
  // JSON over several data lines: the member on one of them is removed from it.
  std::string multi =
      "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\r\n"
      "data: \"x\":1,\"usage\":null}\r\n\r\n";
  std::string multiWant =
      "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\r\n"
      "data: \"x\":1}\r\n\r\n";
  checkAllSplits(request(Dialect::OpenAIChat), kSse, multi, multiWant, true);
  // A member split over two data lines cannot be removed cleanly: the event passes unchanged.
  std::string split = "data: {\"choices\":[],\"usage\":\ndata: null}\n\n";
  checkAllSplits(request(Dialect::OpenAIChat), kSse, split, split, true);
}

TEST(ResponseTrackerNullUsage, OnlyWhenStrippingOpenAIStyleSse) {
  std::string body = kSimNullChunk + kDone;
  // The client asked for usage itself (no stripping): untouched.
  EXPECT_EQ(run(request(Dialect::OpenAIChat), kSse, {body}, false).out, body);
  // Responses / Anthropic / Gemini: never altered.
  for (Dialect d : {Dialect::OpenAIResponses, Dialect::Anthropic, Dialect::GeminiStreamSse}) {
    EXPECT_EQ(run(request(d), kSse, {body}, true).out, body);
  }
  // A JSON body is never altered.
  std::string json = R"({"choices":[{"message":{"content":"a"}}],"usage":null})";
  EXPECT_EQ(run(request(Dialect::OpenAIChat, false), kJson, {json}, true).out, json);
}

TEST(ResponseTrackerNullUsage, AnEventBeyondTheHoldCapPassesUnchanged) {
  std::string big = R"(data: {"choices":[{"delta":{"content":")" + std::string(300 << 10, 'a') +
                    R"("}}],"usage":null})"
                    "\n\n";
  // Held, then released when the unfinished event outgrows the cap: forwarded as received.
  std::string_view b = big;
  Outcome r = run(request(Dialect::OpenAIChat), kSse,
                  {b.substr(0, 1000), b.substr(1000, b.size() - 1010), b.substr(b.size() - 10)},
                  true);
  EXPECT_EQ(r.out, big);
  // Complete within one read, it is edited like any other.
  Outcome whole = run(request(Dialect::OpenAIChat), kSse, {b.substr(0, 1000), b.substr(1000)},
                      true);
  EXPECT_EQ(whole.out, withoutNullUsage(big));
}

// ---- estimates of JSON bodies: the answer text, not the JSON --------------------------------

// Counts space-separated words: " the of and to in is it" is 7, like gpt-4o's tokenizer.
uint64_t countWords(std::string_view text) {
  uint64_t n = 0;
  bool in = false;
  for (char c : text) {
    if (c != ' ' && !in) {
      ++n;
    }
    in = c != ' ';
  }
  return n;
}

Outcome runBody(Dialect dialect, std::string_view body, bool complete = true) {
  return run(request(dialect, false, 10), kJson, {body}, false, complete, 200, countWords);
}

TEST(ResponseTrackerJsonEstimate, EveryDialectCountsTheAnswerOnly) {
  // `text`: what the counter must be given (the answer strings in document order, object
  // values minified).
  struct Case {
    const char* name;
    Dialect dialect;
    const char* body;
    const char* text;
  } cases[] = {
      {"openai_chat", Dialect::OpenAIChat,
       R"({"id":"chatcmpl-sim-000001","object":"chat.completion","created":1700000000,"model":"gpt-4o","system_fingerprint":"fp_sim","choices":[{"index":0,"message":{"role":"assistant","content":" the of and to in is it","refusal":null},"logprobs":null,"finish_reason":"stop"}]})",
       " the of and to in is it"},
      {"openai_chat_tools", Dialect::OpenAIChat,
       R"({"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}}]},"finish_reason":"tool_calls"}]})",
       R"({"city": "Paris"})"},
      {"openai_chat_legacy_function_call", Dialect::OpenAIChat,
       R"({"choices":[{"message":{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}}}]})",
       "{}"},
      {"openai_chat_refusal_reasoning", Dialect::OpenAIChat,
       R"({"choices":[{"message":{"role":"assistant","content":null,"refusal":"I cannot","reasoning_content":" let me think"}}]})",
       "I cannot let me think"},
      {"openai_chat_logprobs", Dialect::OpenAIChat,
       R"({"choices":[{"message":{"content":"hi there"},"logprobs":{"content":[{"token":"hi","logprob":-0.1,"bytes":[104,105],"top_logprobs":[]}]}}]})",
       "hi there"},
      {"completions", Dialect::OpenAICompletions,
       R"({"id":"cmpl-1","object":"text_completion","choices":[{"text":" the of and","index":0,"logprobs":null,"finish_reason":"stop"}],"model":"gpt-4o"})",
       " the of and"},
      {"responses", Dialect::OpenAIResponses,
       R"({"id":"resp_1","object":"response","status":"completed","instructions":"You are a terse assistant that answers in one line.","text":{"format":{"type":"text"}},"reasoning":{"effort":null,"summary":null},"tools":[{"type":"function","name":"f","description":"does things well"}],"output":[{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"thought hard"}]},{"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":" the of and to","annotations":[]},{"type":"refusal","refusal":" no"}]},{"type":"function_call","id":"fc_1","call_id":"c1","name":"f","arguments":" {\"a\": 1}"}],"usage":null})",
       R"(thought hard the of and to no {"a": 1})"},
      {"anthropic", Dialect::Anthropic,
       R"({"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"thinking","thinking":"hmm ok ","signature":"c2lnbmF0dXJlIGJ5dGVz"},{"type":"text","text":"the answer is "},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city": "Paris", "days": [1, 2]}}],"stop_reason":"tool_use"})",
       R"(hmm ok the answer is {"city":"Paris","days":[1,2]})"},
      {"gemini", Dialect::GeminiGenerate,
       R"({"candidates":[{"content":{"role":"model","parts":[{"text":"one two "},{"text":"three "},{"functionCall":{"name":"f","args":{"q": "x y"}}}]},"finishReason":"STOP","index":0}],"modelVersion":"gemini-2.5-flash","responseId":"abc"})",
       R"(one two three {"name":"f","args":{"q":"x y"}})"},
      {"ollama_chat", Dialect::OllamaChat,
       R"({"model":"llama3","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":"a b c","thinking":" d","tool_calls":[{"function":{"name":"f","arguments":{"x": 1}}}]},"done":true})",
       R"(a b c d[{"function":{"name":"f","arguments":{"x":1}}}])"},
      {"ollama_generate", Dialect::OllamaGenerate,
       R"({"model":"llama3","created_at":"2024-01-01T00:00:00Z","response":"The sky is blue","done":true,"context":[1,2,3]})",
       "The sky is blue"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string seen;
    TokenCounter counter = [&seen](std::string_view text) -> uint64_t {
      seen.assign(text);
      return countWords(text);
    };
    uint64_t words = countWords(c.text);
    Outcome r = run(request(c.dialect, false, 10), kJson, {c.body}, false, true, 200, counter);
    EXPECT_EQ(seen, c.text);
    EXPECT_EQ(r.usage, (Usage{10, 0, 0, words, 0, 10 + words, false, true}));
    // Independent of the split.
    std::mt19937 rng(3);
    for (int i = 0; i < 10; ++i) {
      seen.clear();
      run(request(c.dialect, false, 10), kJson, splitRandom(c.body, rng, 9), false, true, 200,
          counter);
      EXPECT_EQ(seen, c.text) << "split " << i;
    }
    seen.clear();
    run(request(c.dialect, false, 10), kJson, splitBytes(c.body), false, true, 200, counter);
    EXPECT_EQ(seen, c.text) << "byte by byte";
  }
}

TEST(ResponseTrackerJsonEstimate, ToolInputIsCountedAsItsJson) {
  // Anthropic tool_use input, minified: {"city":"Paris"} is 16 bytes -> 4 with bytes/4.
  std::string body =
      R"({"content":[{"type":"tool_use","id":"toolu_1","name":"w","input":{ "city" : "Paris" }}]})";
  Outcome r = run(request(Dialect::Anthropic, false, 0), kJson, {body}, false, true);
  EXPECT_EQ(r.usage.outputTokens, 4u);
}

TEST(ResponseTrackerJsonEstimate, EscapesAreDecoded) {
  // "a\nb" + "é" + U+1F600 (a surrogate pair) + "\"q\"": 3 + 2 + 4 + 3 = 12 bytes -> 3.
  std::string body =
      R"({"choices":[{"message":{"content":"a\nb\u00e9\ud83d\ude00\"q\""}}]})";
  std::vector<std::string> seen;
  TokenCounter capture = [&seen](std::string_view text) -> uint64_t {
    seen.emplace_back(text);
    return estimateTokensByBytes(text);
  };
  Outcome r = run(request(Dialect::OpenAIChat, false, 0), kJson, {body}, false, true, 200, capture);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), "a\nb\xC3\xA9\xF0\x9F\x98\x80\"q\"");
  EXPECT_EQ(r.usage.outputTokens, 3u);
  // Split inside every escape: the same text.
  seen.clear();
  run(request(Dialect::OpenAIChat, false, 0), kJson, splitBytes(body), false, true, 200, capture);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), "a\nb\xC3\xA9\xF0\x9F\x98\x80\"q\"");
}

TEST(ResponseTrackerJsonEstimate, CutBodyCountsTheTextReceived) {
  std::string body =
      R"({"id":"chatcmpl-sim-000002","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":" the of and to in is it that for on","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":41,"completion_tokens":10,"total_tokens":51}})";
  // Cut inside the content: the words received so far, never the JSON around them.
  size_t inContent = body.find(" in is");
  Outcome cut = runBody(Dialect::OpenAIChat, body.substr(0, inContent), false);
  EXPECT_EQ(cut.usage, (Usage{10, 0, 0, 4, 0, 14, false, true}));
  // Cut just after the content, before the usage: all ten words.
  Outcome afterContent =
      runBody(Dialect::OpenAIChat, body.substr(0, body.find(R"(,"refusal")")), false);
  EXPECT_EQ(afterContent.usage.outputTokens, 10u);
  EXPECT_TRUE(afterContent.usage.estimated);
  // Cut before any answer text: nothing to charge for the output.
  Outcome early = runBody(Dialect::OpenAIChat, body.substr(0, body.find("\"choices\"")), false);
  EXPECT_EQ(early.usage, (Usage{10, 0, 0, 0, 0, 10, false, true}));
  // Complete: the reported figures.
  Outcome whole = runBody(Dialect::OpenAIChat, body, true);
  EXPECT_EQ(whole.usage, (Usage{41, 0, 0, 10, 0, 51, true, false}));
  // Every other cut point: the estimate never exceeds the ten words, and is not zero once a
  // word was received.
  size_t firstWord = body.find(" the") + 2;
  for (size_t n = 1; n < body.find(R"("usage")"); ++n) {
    Outcome r = runBody(Dialect::OpenAIChat, body.substr(0, n), false);
    EXPECT_LE(r.usage.outputTokens, 10u) << n;
    if (n > firstWord) {
      EXPECT_GE(r.usage.outputTokens, 1u) << n;
    }
  }
}

TEST(ResponseTrackerJsonEstimate, DecoysAreNotAnswerText) {
  // Keys of the right name at the wrong place: root "text" object, nested "content" objects,
  // an echoed "instructions" string, a string in an array, a message inside metadata.
  std::string body =
      R"({"text":"no","content_filter":{"content":"no"},"metadata":{"message":{"content":"no"}},"choices":[{"message":{"content":"yes","annotations":[{"text":"no"}],"audio":{"transcript":"no"}},"logprobs":{"content":["no"]}}],"instructions":"no"})";
  Outcome r = runBody(Dialect::OpenAIChat, body);
  EXPECT_EQ(r.usage.outputTokens, 1u);
}

TEST(ResponseTrackerJsonEstimate, NonJsonBodyIsCountedWhole) {
  Outcome r = run(request(Dialect::OpenAIChat, false, 0), "text/plain", {"hello world, plain"},
                  false, true);
  EXPECT_EQ(r.usage.outputTokens, 5u);  // 18 bytes
  // Deeply nested JSON is scanned with a bounded stack and still read at the top.
  std::string deep = R"({"x":)" + std::string(1000, '[') + std::string(1000, ']') +
                     R"(,"choices":[{"message":{"content":"abcd"}}]})";
  Outcome d = run(request(Dialect::OpenAIChat, false, 0), kJson, {deep}, false, false);
  EXPECT_EQ(d.usage.outputTokens, 1u);
}

// ---- cut streams are estimated even when running provider figures arrived ------------------

TEST(ResponseTrackerCut, GeminiSseCutBeforeTheFinishChunkIsEstimated) {
  // Only the first chunk: its cumulative usageMetadata (2) is a running figure.
  std::string first = kGeminiSseLf.substr(0, kGeminiSseLf.find("\n\n") + 2);
  for (bool complete : {false, true}) {
    Outcome r = run(request(Dialect::GeminiStreamSse), kSse, {first}, false, complete);
    EXPECT_EQ(r.usage.inputTokens, 1200u);
    EXPECT_EQ(r.usage.outputTokens, 2u);  // max(2, "Hel" -> 1)
    EXPECT_TRUE(r.usage.reported);
    // Cut: estimated. Ended cleanly: the stream vouches for its last figure.
    EXPECT_EQ(r.usage.estimated, !complete) << "complete=" << complete;
  }
  // The finish chunk arrived, then the stream was cut: final figures, reported only.
  Outcome full = run(request(Dialect::GeminiStreamSse), kSse, {kGeminiSseLf}, false, false);
  EXPECT_EQ(full.usage, kGeminiUsage);
}

TEST(ResponseTrackerCut, GeminiArrayCutOrLeftByTheClientIsEstimated) {
  // Cut inside the last element (the one with finishReason), or the client left after the
  // first element: both only have the first element's running figure.
  std::string cut = kGeminiArray.substr(0, kGeminiArray.size() - 40);
  std::string firstElement = kGeminiArray.substr(0, kGeminiArray.find("\r\n,") + 3);
  for (const std::string& body : {cut, firstElement}) {
    Outcome r = run(request(Dialect::GeminiStream), kJson, {body}, false, false);
    EXPECT_EQ(r.usage, (Usage{1200, 0, 0, 2, 0, 1202, true, true}));
  }
  Outcome whole = run(request(Dialect::GeminiStream), kJson, {kGeminiArray}, false, false);
  EXPECT_EQ(whole.usage, kGeminiUsage);
}

TEST(ResponseTrackerCut, RunningFigureAboveTheEstimateIsStillMarkedEstimated) {
  // Anthropic cut after message_start whose running output (50) exceeds the text relayed.
  std::string start =
      "event: message_start\n"
      R"(data: {"type":"message_start","message":{"usage":{"input_tokens":10,"output_tokens":50}}})"
      "\n\n"
      "event: content_block_delta\n"
      R"(data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})"
      "\n\n";
  Outcome a = run(request(Dialect::Anthropic), kSse, {start}, false, false);
  EXPECT_EQ(a.usage, (Usage{10, 0, 0, 50, 0, 60, true, true}));
  // vLLM continuous usage, cut.
  std::string vllm =
      R"(data: {"choices":[{"delta":{"content":"a"},"finish_reason":null}],"usage":{"prompt_tokens":7,"completion_tokens":30,"total_tokens":37}})"
      "\n\n";
  Outcome v = run(request(Dialect::OpenAIChat), kSse, {vllm}, false, false);
  EXPECT_EQ(v.usage, (Usage{7, 0, 0, 30, 0, 37, true, true}));
  // While still running (not finished), a running figure that beats the estimate is reported.
  ResponseTracker t(request(Dialect::OpenAIChat), 200, kSse, false, {});
  std::string out;
  t.feed(vllm, out);
  EXPECT_EQ(t.usage(), (Usage{7, 0, 0, 30, 0, 37, true, false}));
}

TEST(ResponseTrackerCut, AnthropicCutAfterMessageStartOrFirstDelta) {
  Outcome r = run(request(Dialect::Anthropic), kSse, {kAnthropicStart}, false, false);
  EXPECT_EQ(r.usage, (Usage{1200, 1024, 0, 11, 0, 1211, true, true}));
  // A message_delta is final: cut after it, the figures are reported as they are.
  std::string withDelta = kAnthropicStream.substr(0, kAnthropicStream.find("event: content_block_stop"));
  Outcome d = run(request(Dialect::Anthropic), kSse, {withDelta}, false, false);
  EXPECT_EQ(d.usage, (Usage{1200, 1024, 0, 100, 0, 1300, true, false}));
}

TEST(ResponseTrackerCut, InStreamErrorWithRunningFiguresIsEstimated) {
  std::string body = kGeminiSseLf.substr(0, kGeminiSseLf.find("\n\n") + 2) +
                     R"(data: {"error":{"code":500,"message":"internal","status":"INTERNAL"}})" +
                     "\n\n";
  Outcome r = run(request(Dialect::GeminiStreamSse), kSse, {body}, false, true);
  EXPECT_TRUE(r.sawError);
  EXPECT_TRUE(r.usage.reported && r.usage.estimated);
}

TEST(ResponseTrackerStrip, NonSseBodyIsNeverAltered) {
  Outcome r = run(request(Dialect::OpenAIChat), kJson, {kOpenAIChatJson}, true);
  EXPECT_EQ(r.out, kOpenAIChatJson);
}

}  // namespace
}  // namespace tg::usage

// ---- lazy text: events that can only carry text are parsed only when an estimate is needed --

namespace tg::usage {
namespace {

TEST(ResponseTracker, DeferredTextEventsCountLikeParsedOnes) {
  // Text-only chunks around a running (non-final) usage chunk, then a cut: every text counts,
  // whether read at once or queried midway.
  std::string body =
      "data: {\"choices\":[{\"delta\":{\"content\":\"abcdefgh\"}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"ijklmnop\"}}],"
      "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":1}}\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"qrstuvwxyz012345\"}}]}\n\n"
      "data: {not json \"content\":\"zzzzzzzzzzzz\"}\n\n";
  ResponseTracker t(request(Dialect::OpenAIChat), 200, kSse, false, {});
  std::string out;
  t.feed(body.substr(0, 60), out);
  Usage early = t.usage();
  EXPECT_FALSE(early.reported);
  EXPECT_EQ(early.outputTokens, 2u);  // "abcdefgh"
  t.feed(body.substr(60), out);
  t.finish(false, out);
  Usage u = t.usage();
  EXPECT_TRUE(u.reported);
  EXPECT_TRUE(u.estimated);
  EXPECT_EQ(u.inputTokens, 7u);
  EXPECT_EQ(u.outputTokens, 8u);  // 32 bytes of text / 4
  EXPECT_EQ(t.usage(), u);
}

TEST(ResponseTracker, EscapedKeysAreNotMistakenForText) {
  // "\u0075sage" is "usage": the byte scan must not take the event for text only.
  std::string body =
      "data: {\"choices\":[{\"delta\":{\"content\":\"abcd\"}}]}\n\n"
      "data: {\"choices\":[],\"\\u0075sage\":{\"prompt_tokens\":3,\"completion_tokens\":5}}\n\n"
      "data: {\"type\":\"\\u0065rror\"}\n\n";
  Outcome r = run(request(Dialect::OpenAIChat), kSse, {body});
  EXPECT_TRUE(r.usage.reported);
  EXPECT_EQ(r.usage.outputTokens, 5u);
  EXPECT_TRUE(r.sawError);
}

TEST(ResponseTracker, DeferredTextDroppedOnceFinalUsageArrives) {
  std::string body =
      "event: content_block_delta\n"
      "data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n"
      "event: message_delta\n"
      "data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n\n"
      "event: content_block_delta\n"
      "data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"y\"}}\n\n";
  Usage u = checkAllSplits(request(Dialect::Anthropic), kSse, body);
  EXPECT_TRUE(u.reported);
  EXPECT_EQ(u.outputTokens, 9u);
}

}  // namespace
}  // namespace tg::usage

// ---- JSON bodies: buffered and parsed whole, the streaming path beyond the buffer ----------

namespace tg::usage {
namespace {

TEST(ResponseTrackerJsonBuffered, ConcatenatedDocumentsReadLikeAStream) {
  // A second document after a first one that was already parsed whole (it ended a read), or
  // in the same read: both are read, whatever the split; the last usage wins.
  std::string first = R"({"choices":[{"message":{"content":"abcd"}}]})";
  std::string second = R"({"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}})";
  std::string body = first + "\n" + second + "\n";
  Usage u = checkAllSplits(request(Dialect::OpenAIChat, false), kJson, body);
  EXPECT_EQ(u, (Usage{3, 0, 0, 4, 0, 7, true, false}));
  ResponseTracker t(request(Dialect::OpenAIChat, false, 10), 200, kJson, false, {});
  std::string out;
  t.feed(first, out);
  EXPECT_EQ(t.eventsSeen(), 1u);  // parsed as soon as it could be whole
  EXPECT_EQ(t.usage(), (Usage{10, 0, 0, 1, 0, 11, false, true}));
  t.feed("\n  ", out);
  t.feed(second, out);
  t.finish(true, out);
  EXPECT_EQ(t.eventsSeen(), 2u);
  EXPECT_EQ(t.usage(), (Usage{3, 0, 0, 4, 0, 7, true, false}));
  EXPECT_EQ(out, first + "\n  " + second);
}

TEST(ResponseTrackerJsonBuffered, ReadsEndingInABraceMidBody) {
  // Every read ends with '}' inside the document: failed whole-body parses, then the body.
  std::string body =
      R"({"a":{},"b":{"c":{}},"choices":[{"message":{"content":"hello"}}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}})";
  std::vector<std::string_view> pieces;
  size_t from = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '}') {
      pieces.push_back(std::string_view(body).substr(from, i + 1 - from));
      from = i + 1;
    }
  }
  Outcome r = run(request(Dialect::OpenAIChat, false), kJson, pieces);
  EXPECT_EQ(r.out, body);
  EXPECT_EQ(r.usage, (Usage{1, 0, 0, 2, 0, 3, true, false}));
  // Cut after the content: the answer text, scanned only now, estimates the output.
  Outcome cut = run(request(Dialect::OpenAIChat, false, 0), kJson,
                    {std::string_view(body).substr(0, body.find(",\"usage\""))}, false, false);
  EXPECT_EQ(cut.usage, (Usage{0, 0, 0, 2, 0, 2, false, true}));
}

TEST(ResponseTrackerJsonBuffered, BodyOutgrowingTheBufferKeepsItsTextAndUsage) {
  // 600 KiB of answer text then 600 KiB more: the buffered part is handed to the streaming
  // path with its text; without usage the whole answer is estimated.
  std::string text(1200u << 10, 'a');
  std::string body = R"({"choices":[{"message":{"content":")" + text + R"("}}]})";
  std::mt19937 rng(11);
  Outcome r = run(request(Dialect::OpenAIChat, false, 0), kJson, splitRandom(body, rng, 300000));
  EXPECT_EQ(r.out, body);
  EXPECT_EQ(r.usage.outputTokens, text.size() / 4);
  std::string withUsage = body.substr(0, body.size() - 1) +
                          R"(,"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}})";
  Outcome u = run(request(Dialect::OpenAIChat, false, 0), kJson, splitRandom(withUsage, rng, 300000));
  EXPECT_EQ(u.usage, (Usage{5, 0, 0, 6, 0, 11, true, false}));
}

}  // namespace
}  // namespace tg::usage
