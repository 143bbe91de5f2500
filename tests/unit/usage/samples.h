#pragma once
// Realistic response bodies for the usage tests, shaped after wire-formats.md §1 (values
// invented, as there). Each sample names the usage a correct tracker reports for it.

#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "usage/response_tracker.h"

namespace tg::usage {

// gtest prints Usage values in failure messages through this (found by ADL).
inline void PrintTo(const Usage& u, std::ostream* os) {
  *os << "{in=" << u.inputTokens << " cached=" << u.cachedInputTokens
      << " write=" << u.cacheWriteInputTokens << " out=" << u.outputTokens
      << " reasoning=" << u.reasoningTokens << " total=" << u.totalTokens
      << " reported=" << u.reported << " estimated=" << u.estimated << "}";
}

}  // namespace tg::usage

namespace tg::usage::samples {

// §1.1 OpenAI chat stream with stream_options.include_usage.
inline const std::string kOpenAIChatUsageEvent =
    R"(data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1735689600,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":310,"total_tokens":1510,"prompt_tokens_details":{"cached_tokens":1024},"completion_tokens_details":{"reasoning_tokens":256}}})"
    "\n\n";
inline const std::string kOpenAIChatBeforeUsage =
    R"(data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1735689600,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null})"
    "\n\n"
    R"(data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1735689600,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hi!"},"finish_reason":null}],"usage":null})"
    "\n\n"
    R"(data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1735689600,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":" How can I help?"},"finish_reason":null}],"usage":null})"
    "\n\n"
    R"(data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1735689600,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null})"
    "\n\n";
inline const std::string kDone = "data: [DONE]\n\n";
inline const std::string kOpenAIChatStream = kOpenAIChatBeforeUsage + kOpenAIChatUsageEvent + kDone;
inline const Usage kOpenAIChatUsage{1200, 1024, 0, 310, 256, 1510, true, false};

// §1.1 non-streaming.
inline const std::string kOpenAIChatJson =
    R"({"id":"chatcmpl-abc","object":"chat.completion","created":1735689600,"model":"gpt-4o-2024-08-06",
 "choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"},"logprobs":null,"finish_reason":"stop"}],
 "usage":{"prompt_tokens":1200,"completion_tokens":310,"total_tokens":1510,
          "prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},
          "completion_tokens_details":{"reasoning_tokens":256,"audio_tokens":0,
                                       "accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}})";

// §1.2 Responses API stream.
inline const std::string kResponsesStream =
    "event: response.created\n"
    R"(data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","usage":null}})"
    "\n\n"
    "event: response.output_text.delta\n"
    R"(data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi"})"
    "\n\n"
    "event: response.completed\n"
    R"(data: {"type":"response.completed","sequence_number":9,"response":{"id":"resp_1","object":"response","status":"completed","usage":{"input_tokens":1200,"input_tokens_details":{"cached_tokens":1024},"output_tokens":310,"output_tokens_details":{"reasoning_tokens":256},"total_tokens":1510}}})"
    "\n\n";
inline const Usage kResponsesUsage{1200, 1024, 0, 310, 256, 1510, true, false};

// §1.3 legacy completions stream with include_usage.
inline const std::string kCompletionsStream =
    R"(data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"gpt-3.5-turbo-instruct","choices":[{"text":"Once","index":0,"logprobs":null,"finish_reason":null}],"usage":null})"
    "\n\n"
    R"(data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"gpt-3.5-turbo-instruct","choices":[{"text":" upon a time","index":0,"logprobs":null,"finish_reason":"length"}],"usage":null})"
    "\n\n"
    R"(data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"gpt-3.5-turbo-instruct","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}})"
    "\n\n" +
    kDone;
inline const Usage kCompletionsUsage{5, 0, 0, 4, 0, 9, true, false};

// §1.3 embeddings.
inline const std::string kEmbeddingsJson =
    R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.01,-0.02]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}})";
inline const Usage kEmbeddingsUsage{8, 0, 0, 0, 0, 8, true, false};

// §1.4 Anthropic stream, with two cumulative message_delta events (server tools emit several):
// the last one (310) is the output, not their sum.
inline const std::string kAnthropicStart =
    "event: message_start\n"
    R"(data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":176,"cache_creation_input_tokens":0,"cache_read_input_tokens":1024,"output_tokens":1}}})"
    "\n\n"
    "event: content_block_start\n"
    R"(data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"
    "\n\n"
    "event: ping\n"
    R"(data: {"type": "ping"})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi! Let me think about that for a moment."}})"
    "\n\n";
inline const std::string kAnthropicStream =
    kAnthropicStart +
    "event: message_delta\n"
    R"(data: {"type":"message_delta","delta":{"stop_reason":null,"stop_sequence":null},"usage":{"output_tokens":100}})"
    "\n\n"
    "event: content_block_stop\n"
    R"(data: {"type":"content_block_stop","index":0})"
    "\n\n"
    "event: message_delta\n"
    R"(data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":310}})"
    "\n\n"
    "event: message_stop\n"
    R"(data: {"type":"message_stop"})"
    "\n\n";
inline const Usage kAnthropicUsage{1200, 1024, 0, 310, 0, 1510, true, false};

inline const std::string kAnthropicJson =
    R"({"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5",
 "content":[{"type":"text","text":"Hi!"}],"stop_reason":"end_turn","stop_sequence":null,
 "usage":{"input_tokens":176,"cache_creation_input_tokens":50,"cache_read_input_tokens":1024,"output_tokens":310}})";
inline const Usage kAnthropicJsonUsage{1250, 1024, 50, 310, 0, 1560, true, false};

// §1.5 Gemini SSE, CRLF line endings as Vertex AI sends them.
inline const std::string kGeminiSseLf =
    R"(data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}],"usageMetadata":{"promptTokenCount":1200,"candidatesTokenCount":2,"totalTokenCount":1202},"modelVersion":"gemini-2.5-flash"})"
    "\n\n"
    R"(data: {"candidates":[{"content":{"role":"model","parts":[{"text":"lo!"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1200,"cachedContentTokenCount":1024,"candidatesTokenCount":54,"thoughtsTokenCount":256,"totalTokenCount":1510},"modelVersion":"gemini-2.5-flash"})"
    "\n\n";
inline const Usage kGeminiUsage{1200, 1024, 0, 310, 256, 1510, true, false};

// §1.5 Gemini streamGenerateContent without alt=sse: a JSON array streamed element by element.
inline const std::string kGeminiArray =
    "[{\"candidates\": [{\"content\": {\"role\": \"model\",\"parts\": [{\"text\": \"Hel\"}]},"
    "\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 1200,\"candidatesTokenCount\": 2,"
    "\"totalTokenCount\": 1202},\"modelVersion\": \"gemini-2.5-flash\"}\r\n,"
    "{\"candidates\": [{\"content\": {\"role\": \"model\",\"parts\": [{\"text\": \"lo! \\\"q\\\" "
    "]}[\"}]},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": "
    "1200,\"cachedContentTokenCount\": 1024,\"candidatesTokenCount\": 54,\"thoughtsTokenCount\": "
    "256,\"totalTokenCount\": 1510},\"modelVersion\": \"gemini-2.5-flash\"}\r\n]";

inline const std::string kGeminiJson =
    R"({"candidates":[{"content":{"role":"model","parts":[{"text":"Hi!"}]},"finishReason":"STOP","index":0}],
 "usageMetadata":{"promptTokenCount":1200,"cachedContentTokenCount":1024,"candidatesTokenCount":54,"thoughtsTokenCount":256,"totalTokenCount":1510},
 "modelVersion":"gemini-2.5-flash","responseId":"abc"})";

// §1.6 Ollama native NDJSON.
inline const std::string kOllamaChatNdjson =
    R"({"model":"llama3","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":"Hi"},"done":false})"
    "\n"
    R"({"model":"llama3","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":" there"},"done":false})"
    "\n"
    R"({"model":"llama3","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":174560334,"prompt_eval_count":26,"prompt_eval_duration":13074791,"eval_count":18,"eval_duration":52479709})"
    "\n";
inline const Usage kOllamaUsage{26, 0, 0, 18, 0, 44, true, false};

inline const std::string kOllamaGenerateNdjson =
    R"({"model":"llama3","created_at":"2024-01-01T00:00:00Z","response":"The","done":false})"
    "\n"
    R"({"model":"llama3","created_at":"2024-01-01T00:00:00Z","response":" sky","done":false})"
    "\n"
    R"({"model":"llama3","created_at":"2024-01-01T00:00:00Z","response":"","done":true,"prompt_eval_count":26,"eval_count":18})";

// §1.6 llama.cpp without include_usage: timings on the last chunk only.
inline const std::string kLlamaCppStream =
    R"(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"Hello"}}],"created":1,"id":"chatcmpl-x","model":"gpt-3.5-turbo","object":"chat.completion.chunk"})"
    "\n\n"
    R"(data: {"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"created":1,"id":"chatcmpl-x","model":"gpt-3.5-turbo","object":"chat.completion.chunk","timings":{"cache_n":10,"prompt_n":15,"prompt_ms":12.1,"predicted_n":7,"predicted_ms":40.2}})"
    "\n\n" +
    kDone;
inline const Usage kLlamaCppUsage{25, 10, 0, 7, 0, 32, true, false};

// Splits `s` into pieces: whole, byte by byte, or at random points (fixed seed).
inline std::vector<std::string_view> splitRandom(std::string_view s, std::mt19937& rng,
                                                 size_t maxPiece = 64) {
  std::vector<std::string_view> pieces;
  std::uniform_int_distribution<size_t> len(1, maxPiece);
  while (!s.empty()) {
    size_t n = std::min(len(rng), s.size());
    pieces.push_back(s.substr(0, n));
    s.remove_prefix(n);
  }
  return pieces;
}

inline std::vector<std::string_view> splitBytes(std::string_view s) {
  std::vector<std::string_view> pieces;
  for (size_t i = 0; i < s.size(); ++i) {
    pieces.push_back(s.substr(i, 1));
  }
  return pieces;
}

// `s` without its `,"usage":null` members: an injected stream as its client must see it.
inline std::string withoutNullUsage(std::string_view s) {
  constexpr std::string_view kMember = R"(,"usage":null)";
  std::string out;
  for (size_t pos = 0;;) {
    size_t hit = s.find(kMember, pos);
    out.append(s.substr(pos, hit == std::string_view::npos ? std::string_view::npos : hit - pos));
    if (hit == std::string_view::npos) {
      return out;
    }
    pos = hit + kMember.size();
  }
}

// Replaces every "\n" with `eol` ("\r\n" or "\r").
inline std::string withLineEnd(std::string_view s, std::string_view eol) {
  std::string out;
  for (char c : s) {
    if (c == '\n') {
      out += eol;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace tg::usage::samples
