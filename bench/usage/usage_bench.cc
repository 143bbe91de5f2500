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

std::vector<std::string> mockStreamEvents() {
  std::vector<std::string> events;
  events.push_back(chunk(R"({"role":"assistant","content":"","refusal":null})", "null"));
  for (const char* w :
       {"Sure", ".", " Here", " is", " a", " short", " answer", " about", " reverse", " proxies",
        ":", " a", " gateway", " forwards", " requests", " upstream", "."}) {
    events.push_back(chunk(std::string(R"({"content":")") + w + "\"}", "null"));
  }
  events.push_back(chunk("{}", R"("stop")"));
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

void runStream(benchmark::State& state, bool strip) {
  std::vector<std::string> events = mockStreamEvents();
  size_t bytes = 0;
  for (const auto& e : events) {
    bytes += e.size();
  }
  usage::RequestInfo info = chatRequest();
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

void BM_TrackerSseOneEventPerFeed(benchmark::State& state) { runStream(state, false); }
void BM_TrackerSseOneEventPerFeedStrip(benchmark::State& state) { runStream(state, true); }

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
BENCHMARK(BM_TrackerSseSingleFeed);
BENCHMARK(BM_TrackerJsonBody);
BENCHMARK(BM_InspectRequest);
BENCHMARK(BM_InjectIncludeUsage);
BENCHMARK_MAIN();
