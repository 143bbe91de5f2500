#pragma once
// Request inspection: what the gateway must know about an LLM request before admitting it
// (dialect, model, stream, output cap, prompt-token estimate), and the one rewrite it makes to
// a request body (asking an OpenAI-style upstream for streaming usage).
//
// Both functions are pure and thread-safe (inspectRequest uses a thread-local JSON parser for
// bodies up to 1 MiB and a temporary one above, so a worker keeps no large buffer). They never
// throw; a body that is not JSON is reported in InspectResult::error.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "usage/dialect.h"
#include "usage/token_counter.h"

namespace tg::usage {

struct RequestInfo {
  Dialect dialect = Dialect::Unknown;
  // Body "model"; for Gemini the model of the path (percent-decoded, "models/" removed).
  std::string model;
  // Body "stream": true. Gemini: streamGenerateContent. Ollama: true unless "stream": false.
  bool stream = false;
  // The first of max_tokens, max_completion_tokens, max_output_tokens,
  // generationConfig.maxOutputTokens, options.num_predict that is a non-negative integer
  // (Ollama's -1 "unlimited" and -2 "fill context" are no cap).
  std::optional<uint64_t> maxOutputTokens;
  // stream_options.include_usage is true (OpenAI chat / completions).
  bool clientAskedUsage = false;
  // Estimated prompt tokens: the sum of counter(text) over every text piece of the prompt, plus
  // the OpenAI cookbook framing (3 per message + 3 for the reply priming, + 1 per `name`) for
  // the dialects that have messages. Text pieces, per dialect:
  //   OpenAI chat   messages[].content (string or [].text), .name, .tool_calls[].function
  //                 name and arguments; tools/functions (their JSON text)
  //   completions   prompt and suffix (strings; token-id arrays count one token per id; no
  //                 framing)
  //   responses     instructions; input (string = one message, or items: content / [].text,
  //                 function_call arguments, function_call_output output); tools JSON
  //   embeddings    input (strings or token ids; no framing)
  //   Anthropic     system (string or [].text); messages[].content (string, or blocks: text,
  //                 tool_use input JSON, tool_result content); tools JSON
  //   Gemini        systemInstruction.parts[].text; contents[].parts[] text, functionCall and
  //                 functionResponse JSON (one message per content); tools JSON
  //   Ollama chat   messages[].content; tools JSON.  Ollama generate: system + prompt, no framing
  // `system`/`instructions` fields are not counted as messages. Images, audio and files
  // (base64 or URLs) are never text, so they are excluded. 0 for Unknown.
  uint64_t promptEstimate = 0;
};

struct InspectResult {
  std::optional<RequestInfo> info;  // set whenever error is empty
  std::string error;  // non-empty: the body of an LLM request is not a JSON object (-> 400)
};

// Inspects one request. `path` is without the query, `query` without '?'.
//   * An LLM path (dialectFromPath) with a POST needs a non-empty body holding a JSON object;
//     otherwise `error` says why.
//   * Anything else gets info with Dialect::Unknown; if its body happens to be a JSON object,
//     "model" and "stream" are still read (best effort, never an error).
InspectResult inspectRequest(std::string_view method, std::string_view path, std::string_view query,
                             std::string_view body, const TokenCounter& counter);

// Makes an OpenAI chat / completions request body ask for usage in its stream: sets
// stream_options.include_usage to true, editing the bytes in place so everything else stays
// byte-identical. Returns true if the body changed.
//   no stream_options                 -> ,"stream_options":{"include_usage":true} is appended
//                                        as the last member of the root object
//   stream_options: null              -> replaced by {"include_usage":true}
//   stream_options: {...} without it  -> "include_usage":true is added as its first member
//   include_usage: false / null / ... -> the value is replaced by true. Decision: a client
//                                        that explicitly said false is treated like one that did
//                                        not ask (the caller injects and strips), because the
//                                        gateway needs the usage to settle the reservation.
//   include_usage: true               -> unchanged (false is returned)
//   stream_options not an object/null, body not a JSON object, duplicate or escaped keys the
//   byte scanner cannot place -> unchanged (false): the upstream judges the request as sent.
// Does not look at "stream": the caller decides when to inject (streaming requests only).
bool injectIncludeUsage(std::string& body);

// Lowers the request's output cap to `cap` (a policy's clamp_max_tokens: the consumer's
// remaining budget), editing the bytes in place like injectIncludeUsage. Every cap member the
// inspector reads (max_tokens, max_completion_tokens, max_output_tokens; Gemini
// generationConfig.maxOutputTokens; Ollama options.num_predict) whose value is an integer
// above cap, or negative (Ollama's "unlimited"), becomes cap; a smaller one is kept. A body
// with no cap gets one: OpenAI chat max_completion_tokens, Responses max_output_tokens,
// completions / Anthropic max_tokens, Gemini generationConfig.maxOutputTokens (the object
// added when missing), Ollama options.num_predict. Returns true if the body changed; false
// (unchanged) for embeddings, bodies that are not JSON objects, and escaped or duplicate keys.
bool clampMaxOutputTokens(std::string& body, Dialect dialect, uint64_t cap);

}  // namespace tg::usage
