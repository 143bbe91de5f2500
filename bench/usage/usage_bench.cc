// Micro-benchmarks of the usage module on the request path:
//   * ResponseTracker over the 20-chunk OpenAI chat stream of the benchmark's mock upstream
//     (/work/shared/bench/upstream/mock-upstream.sh: 19 content chunks + a usage chunk +
//     [DONE], about 5.5 KB), fed one event per feed() as the upstream flushes them. The
//     `time/event` counter is the cost per SSE event in seconds with an SI prefix ("350n"),
//     tracker construction and usage() included; the target is < 1 µs. With and without
//     stripping the injected usage chunk.
//   * the same response as one JSON body, and as a single feed;
//   * inspectRequest on a ~2 KB chat request (`time/request`), and injectIncludeUsage.
// Run: build/bench/tokengate_usage_bench

#include <benchmark/benchmark.h>

#include <iterator>
#include <string>
#include <vector>

#include "usage/usage.h"

namespace {

using namespace tg;

const char* const kId = R"("id":"chatcmpl-bench0000000000000000000001")";
const char* const kModel = R"("model":"gpt-4o-mini-2024-07-18")";

std::string chunk(const std::string& delta, const std::string& finish) {
  return std::string("data: {") + kId +
         R"(,"object":"chat.completion.chunk","created":1700000000,)" + kModel +
         R"(,"system_fingerprint":"fp_bench01","choices":[{"index":0,"delta":)" + delta +
         R"(,"logprobs":null,"finish_reason":)" + finish + "}]}\n\n";
}

const char* const kWords[] = {"Sure",     ".",  " Here",    " is",       " a",
                              " short",   " answer", " about", " reverse", " proxies",
                              ":",        " a",  " gateway", " forwards", " requests",
                              " upstream", "."};

// nullUsage: every chunk also carries `"usage":null`, as OpenAI-compatible upstreams send once
// include_usage is set.
std::vector<std::string> mockStreamEvents(bool nullUsage = false) {
  std::vector<std::string> events;
  auto add = [&](std::string e) {
    if (nullUsage) {
      e.insert(e.size() - 3, R"(,"usage":null)");
    }
    events.push_back(std::move(e));
  };
  add(chunk(R"({"role":"assistant","content":"","refusal":null})", "null"));
  for (const char* w : kWords) {
    add(chunk(std::string(R"({"content":")") + w + "\"}", "null"));
  }
  add(chunk("{}", R"("stop")"));
  events.push_back(
      std::string("data: {") + kId + R"(,"object":"chat.completion.chunk","created":1700000000,)" +
      kModel +
      R"(,"system_fingerprint":"fp_bench01","choices":[],"usage":{"prompt_tokens":512,"completion_tokens":17,"total_tokens":529,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}})"
      "\n\n");
  events.push_back("data: [DONE]\n\n");
  return events;
}

usage::RequestInfo chatRequest() {
  usage::RequestInfo info;
  info.dialect = usage::Dialect::OpenAIChat;
  info.model = "gpt-4o-mini";
  info.stream = true;
  info.promptEstimate = 512;
  return info;
}

// Anthropic Messages stream of the same answer: message_start, content_block_start, ping, 17
// text deltas, content_block_stop, message_delta (usage), message_stop.
std::vector<std::string> anthropicStreamEvents() {
  std::vector<std::string> events;
  events.push_back(
      R"(event: message_start
data: {"type":"message_start","message":{"id":"msg_bench0000000000000000001","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":512,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}

)");
  events.push_back(R"(event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

)");
  events.push_back("event: ping\ndata: {\"type\": \"ping\"}\n\n");
  for (const char* w : kWords) {
    events.push_back(
        std::string(
            "event: content_block_delta\ndata: "
            R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":")") +
        w + "\"}}\n\n");
  }
  events.push_back(R"(event: content_block_stop
data: {"type":"content_block_stop","index":0}

)");
  events.push_back(R"(event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":17}}

)");
  events.push_back(R"(event: message_stop
data: {"type":"message_stop"}

)");
  return events;
}

// Gemini streamGenerateContent?alt=sse: 17 chunks, each with its cumulative usageMetadata;
// the last one has finishReason.
std::vector<std::string> geminiStreamEvents() {
  std::vector<std::string> events;
  int n = 0;
  for (const char* w : kWords) {
    ++n;
    bool last = n == static_cast<int>(std::size(kWords));
    events.push_back(
        std::string(R"(data: {"candidates": [{"content": {"parts": [{"text": ")") + w +
        R"("}],"role": "model"})" + (last ? R"(,"finishReason": "STOP")" : "") +
        R"(,"index": 0}],"usageMetadata": {"promptTokenCount": 512,"candidatesTokenCount": )" +
        std::to_string(n) + R"(,"totalTokenCount": )" + std::to_string(512 + n) +
        R"(,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 512}]},"modelVersion": "gemini-2.0-flash","responseId": "bench0000000000000001"})"
        "\r\n\r\n");
  }
  return events;
}

void runEvents(benchmark::State& state, const std::vector<std::string>& events,
               const usage::RequestInfo& info, bool strip) {
  size_t bytes = 0;
  for (const auto& e : events) {
    bytes += e.size();
  }
  usage::TokenCounter counter;
  std::string out;
  out.reserve(1024);
  for (auto _ : state) {
    usage::ResponseTracker tracker(info, 200, "text/event-stream", strip, counter);
    for (const auto& e : events) {
      out.clear();
      tracker.feed(e, out);
      benchmark::DoNotOptimize(out.data());
    }
    tracker.finish(true, out);
    usage::Usage u = tracker.usage();
    benchmark::DoNotOptimize(u);
    if (u.outputTokens != 17) {
      state.SkipWithError("wrong usage");
      break;
    }
  }
  state.counters["events/stream"] = static_cast<double>(events.size());
  // Seconds per event, printed with an SI prefix ("350n" = 350 ns).
  state.counters["time/event"] = benchmark::Counter(
      static_cast<double>(events.size()),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

void runStream(benchmark::State& state, bool strip, bool nullUsage = false) {
  runEvents(state, mockStreamEvents(nullUsage), chatRequest(), strip);
}

void BM_TrackerSseOneEventPerFeed(benchmark::State& state) { runStream(state, false); }
void BM_TrackerSseOneEventPerFeedStrip(benchmark::State& state) { runStream(state, true); }
// Every chunk carries "usage":null, removed by the tracker (include_usage injected).
void BM_TrackerSseOneEventPerFeedStripNullUsage(benchmark::State& state) {
  runStream(state, true, true);
}
void BM_TrackerSseAnthropic(benchmark::State& state) {
  usage::RequestInfo info = chatRequest();
  info.dialect = usage::Dialect::Anthropic;
  runEvents(state, anthropicStreamEvents(), info, false);
}
void BM_TrackerSseGemini(benchmark::State& state) {
  usage::RequestInfo info = chatRequest();
  info.dialect = usage::Dialect::GeminiStreamSse;
  runEvents(state, geminiStreamEvents(), info, false);
}

void BM_TrackerSseSingleFeed(benchmark::State& state) {
  std::string body;
  for (const auto& e : mockStreamEvents()) {
    body += e;
  }
  usage::RequestInfo info = chatRequest();
  std::string out;
  for (auto _ : state) {
    usage::ResponseTracker tracker(info, 200, "text/event-stream", false, {});
    out.clear();
    tracker.feed(body, out);
    tracker.finish(true, out);
    benchmark::DoNotOptimize(tracker.usage());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void BM_TrackerJsonBody(benchmark::State& state) {
  std::string body =
      std::string("{") + kId + R"(,"object":"chat.completion","created":1700000000,)" + kModel +
      R"(,"choices":[{"index":0,"message":{"role":"assistant","content":"Sure. Here is a short answer to your question about reverse proxies: a gateway terminates the client connection, applies policy, forwards the request upstream over a pooled keep-alive connection and streams the response back.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":512,"completion_tokens":48,"total_tokens":560,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_bench01"})";
  usage::RequestInfo info = chatRequest();
  info.stream = false;
  std::string out;
  for (auto _ : state) {
    usage::ResponseTracker tracker(info, 200, "application/json", false, {});
    out.clear();
    tracker.feed(body, out);
    tracker.finish(true, out);
    benchmark::DoNotOptimize(tracker.usage());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

std::string chatRequestBody() {
  std::string body =
      R"({"model":"gpt-4o-mini","stream":true,"temperature":0.2,"max_tokens":512,"messages":[)"
      R"({"role":"system","content":"You are a concise assistant for an engineering team. Answer with short paragraphs and cite the relevant configuration keys when you mention them."})";
  const char* turns[] = {
      "How does the gateway decide which upstream a request goes to when several routes match "
      "the same host? I would like to understand the precedence rules.",
      "Routes are matched by host first, then by the longest path prefix; the first route in the "
      "file wins among equals. A route may also match on the model named in the body.",
      "And what happens to a streaming response when the client disconnects halfway through the "
      "answer? Is the upstream connection reused afterwards or closed?",
      "The gateway stops relaying, settles the reservation with the tokens relayed so far, and "
      "closes the upstream connection because its state is unknown.",
      "Can you summarise how token estimates are made for requests that have not reached the "
      "upstream yet, and how they are corrected once the usage arrives from the provider?",
  };
  int i = 0;
  for (const char* t : turns) {
    body += std::string(R"(,{"role":")") + (i++ % 2 == 0 ? "user" : "assistant") +
            R"(","content":")" + t + "\"}";
  }
  body +=
      R"(],"tools":[{"type":"function","function":{"name":"lookup_config","description":"Look up a configuration key and return its documentation.","parameters":{"type":"object","properties":{"key":{"type":"string","description":"Dotted path of the key"}},"required":["key"]}}}]})";
  while (body.size() < 2000) {
    body.insert(body.size() - 1, R"(,"user":"team-42")");
  }
  return body;
}

void BM_InspectRequest(benchmark::State& state) {
  std::string body = chatRequestBody();
  usage::TokenCounter counter;
  for (auto _ : state) {
    usage::InspectResult r =
        usage::inspectRequest("POST", "/v1/chat/completions", "", body, counter);
    benchmark::DoNotOptimize(r);
  }
  state.counters["body_bytes"] = static_cast<double>(body.size());
  state.counters["time/request"] = benchmark::Counter(
      1, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_InjectIncludeUsage(benchmark::State& state) {
  std::string original = chatRequestBody();
  std::string body;
  for (auto _ : state) {
    body = original;
    benchmark::DoNotOptimize(usage::injectIncludeUsage(body));
  }
}

}  // namespace

BENCHMARK(BM_TrackerSseOneEventPerFeed);
BENCHMARK(BM_TrackerSseOneEventPerFeedStrip);
BENCHMARK(BM_TrackerSseOneEventPerFeedStripNullUsage);
BENCHMARK(BM_TrackerSseAnthropic);
BENCHMARK(BM_TrackerSseGemini);
BENCHMARK(BM_TrackerSseSingleFeed);
BENCHMARK(BM_TrackerJsonBody);
BENCHMARK(BM_InspectRequest);
BENCHMARK(BM_InjectIncludeUsage);
BENCHMARK_MAIN();
