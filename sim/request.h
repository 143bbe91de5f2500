#pragma once

// Request inspection: reads what the simulator needs from an LLM request body.
//
// PROMPT TOKEN RULE (deterministic, documented in README.md):
//   prompt_tokens = ceil(text_bytes / 4) + 3 * messages + 3
// where text_bytes is the number of UTF-8 bytes (after JSON unescaping) of all text content:
//   OpenAI chat        messages[].content (string) and messages[].content[].text
//   OpenAI completions prompt (string or array of strings)
//   OpenAI responses   instructions, input (string) and input[].content / input[].content[].text
//   Anthropic          system (string or [].text) and messages[].content / [].text
//   Gemini             systemInstruction.parts[].text and contents[].parts[].text
// and messages counts messages[] / input[] items / contents[] (a string `input` is one message;
// completions have none). Embeddings use ceil(text_bytes / 4) of their input(s) alone, with no
// framing. Token-id arrays (prompt / input given as integers) count 4 bytes per integer, i.e.
// exactly one token each. Fields not listed (tool definitions, images, ...) count nothing.
//
// inspectRequest() is thread-safe (it uses a thread-local parser).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "routes.h"

namespace tg::sim {

struct RequestInfo {
  // The model as sent, '@' knobs included ("" when the body has none). For Gemini the caller
  // fills it from the path.
  std::string model;
  // "stream": true (Gemini: set by the caller from the endpoint).
  bool stream = false;
  // OpenAI chat / completions: stream_options.include_usage.
  bool include_usage = false;
  int prompt_tokens = 0;
  // The output cap as sent: max_tokens, max_completion_tokens, max_output_tokens,
  // generationConfig.maxOutputTokens or options.num_predict, the first that is an integer;
  // -1 when none is (recorded in /sim/stats, not obeyed).
  int64_t max_tokens = -1;
  // Embeddings: one seed per input (a hash of its content) and the requested encoding.
  std::vector<uint64_t> embedding_seeds;
  bool embeddings_base64 = false;
};

// Fills `info` from a JSON request `body` for `api`. Returns "" on success, otherwise a message
// for a 400 answer (invalid JSON, or not a JSON object).
std::string inspectRequest(Api api, std::string_view body, RequestInfo& info);

}  // namespace tg::sim
