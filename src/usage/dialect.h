#pragma once
// Which LLM API a request speaks, decided from the method and the path alone (the body is not
// needed), and the model named in a Gemini path. Pure functions, thread-safe.
//
// Rules (suffix of the path without query; one trailing '/' is ignored; only POST is an LLM
// call, since GET /v1/chat/completions lists stored completions and GET /v1/models is metadata):
//   .../chat/completions                    OpenAIChat
//   .../completions                         OpenAICompletions
//   .../responses                           OpenAIResponses (not /responses/{id}, /input_tokens)
//   .../embeddings                          OpenAIEmbeddings
//   .../messages                            Anthropic (not /messages/count_tokens, and not the
//                                           OpenAI Assistants path /threads/{id}/messages)
//   .../{model}:generateContent             GeminiGenerate
//   .../{model}:streamGenerateContent       GeminiStream, or GeminiStreamSse with alt=sse
//   .../api/chat                            OllamaChat (NDJSON stream by default)
//   .../api/generate                        OllamaGenerate
// Anything else is Unknown: not an LLM call, passed through without inspection or accounting.

#include <string>
#include <string_view>

namespace tg::usage {

enum class Dialect {
  Unknown,
  OpenAIChat,
  OpenAICompletions,
  OpenAIResponses,
  OpenAIEmbeddings,
  Anthropic,
  GeminiGenerate,
  GeminiStream,  // streamGenerateContent without alt=sse: the body is a JSON array
  GeminiStreamSse,
  OllamaChat,      // /api/chat, NDJSON
  OllamaGenerate,  // /api/generate, NDJSON
};

// A stable lower-case name for logs and metrics ("openai_chat", "gemini_stream_sse", ...).
const char* dialectName(Dialect dialect);

Dialect dialectFromPath(std::string_view method, std::string_view path, std::string_view query);

// The model of a Gemini path: the last segment, percent-decoded, before its ':' method, with a
// leading "models/" removed ("/v1beta/models/gemini-2.5-flash:generateContent" ->
// "gemini-2.5-flash"). Empty when the last segment has no ':'.
std::string geminiModelFromPath(std::string_view path);

// True for the Gemini dialects (the model comes from the path, stream from the method).
inline bool isGemini(Dialect d) {
  return d == Dialect::GeminiGenerate || d == Dialect::GeminiStream ||
         d == Dialect::GeminiStreamSse;
}

}  // namespace tg::usage
