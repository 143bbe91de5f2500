#pragma once

// Routes: which simulated API a request target names.
//
// LLM endpoints are matched by path suffix so that any prefix is accepted
// ("/openai/v1/chat/completions" is chat too); this lets tests exercise a gateway's path
// rewrites. The simulator's own endpoints (/sim/stats, /health) are matched exactly, except
// /sim/echo, which accepts any prefix, any suffix after it and any query.
// Pure functions, thread-safe.

#include <optional>
#include <string>
#include <string_view>

namespace tg::sim {

enum class Api {
  OpenAiChat,         // POST .../v1/chat/completions
  OpenAiCompletions,  // POST .../v1/completions
  OpenAiResponses,    // POST .../v1/responses
  OpenAiEmbeddings,   // POST .../v1/embeddings
  OpenAiModels,       // GET  .../v1/models
  AnthropicMessages,  // POST .../v1/messages
  GeminiGenerate,     // POST .../v1beta/models/{model}:generateContent
  GeminiStream,       // POST .../v1beta/models/{model}:streamGenerateContent[?alt=sse]
  Echo,               // ANY  .../sim/echo[/...][?...]
  Stats,              // GET  /sim/stats
  Health,             // GET  /health
};

// The family an API's bodies (and error bodies) belong to.
enum class Dialect { OpenAi, Anthropic, Gemini };
Dialect dialectOf(Api api);

struct Route {
  Api api;
  // Gemini only: the percent-decoded {model} path segment, '@' knobs included.
  std::string gemini_model;
  // Gemini stream only: true with ?alt=sse (SSE framing), false for the streamed JSON array.
  bool gemini_sse = false;
};

// Matches `method` and `target` (path plus optional query). nullopt means 404.
std::optional<Route> matchRoute(std::string_view method, std::string_view target);

}  // namespace tg::sim
