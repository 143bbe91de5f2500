#pragma once

// Dialects: the bytes of every simulated answer, per provider API.
//
// Output is deterministic. Output token i is outputWord(i) = kWords[i % 16], one of 16 common
// English words with a leading space (" the", " of", ...), each exactly one token in both
// o200k_base and cl100k_base, so the completion text of N tokens tokenizes to exactly N tokens.
// Ids come from a per-process sequence number (chatcmpl-sim-000001, msg_sim000001, ...), and
// "created" is always 1700000000.
//
// Shapes follow /work/shared/reference/wire-formats.md §1: usage objects with the real field
// names, OpenAI chat/completions stream usage only with stream_options.include_usage (then the
// other chunks carry "usage":null), Responses usage in response.completed, Anthropic usage in
// message_start and a cumulative message_delta, Gemini cumulative usageMetadata on every chunk.
//
// Everything here is pure: no I/O, no clocks, thread-safe. Timing, cuts and compression are the
// server's job; a StreamScript only says which event bytes come before, per and after tokens.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "routes.h"

namespace tg::sim {

// One LLM request after inspection, with its knobs applied.
struct Generation {
  Api api = Api::OpenAiChat;
  std::string model;  // reported model: the part before '@'
  uint64_t seq = 0;   // per-process sequence number, used for ids
  int prompt_tokens = 0;
  int tokens = 0;  // output tokens to generate
  bool omit_usage = false;
  bool include_usage = false;  // OpenAI chat / completions streams: stream_options.include_usage
  bool gemini_sse = false;     // Gemini streams: SSE framing instead of a JSON array
  std::vector<uint64_t> embedding_seeds;
  bool embeddings_base64 = false;
};

// A complete (non-streamed) answer.
struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. retry-after
};

// A streamed answer, event by event. Each string is one event (one socket write).
struct StreamScript {
  std::string content_type;
  std::vector<std::string> head;          // sent right after the response headers
  std::function<std::string(int)> token;  // the event carrying output token i (0-based)
  std::vector<std::string> tail;          // after the last token: finish, usage, terminator
};

// `prefix` followed by the zero-padded sequence number: idString("chatcmpl-sim-", 1) is
// "chatcmpl-sim-000001".
std::string idString(std::string_view prefix, uint64_t seq);

// Output token `index` (0-based).
std::string_view outputWord(int index);

// The completion text of `tokens` output tokens.
std::string outputText(int tokens);

// The non-streamed answer for an LLM API (anything but Echo, Stats and Health).
Reply buildReply(const Generation& gen);

// The streamed answer for chat, completions, responses, messages and Gemini streams.
StreamScript buildStream(const Generation& gen);

// An error answer with `status` in `dialect`'s format: OpenAI {"error":{message,type,param,code}}
// (429: type "requests", code "rate_limit_exceeded"; 5xx: "server_error"), Anthropic
// {"type":"error","error":{type,message}} (429 rate_limit_error, 500 api_error, 529
// overloaded_error, ...), Gemini {"error":{code,message,status}}, wrapped in [...] when
// `gemini_array` (a streamGenerateContent request without alt=sse). 429 adds retry-after: 1.
Reply buildError(Dialect dialect, int status, std::string_view message, bool gemini_array = false);

}  // namespace tg::sim
