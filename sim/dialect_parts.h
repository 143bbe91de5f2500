#pragma once

// Internal to the dialect files (dialects.cc, openai_dialect.cc, anthropic_dialect.cc,
// gemini_dialect.cc): small shared pieces and the per-provider builders that dialects.cc
// dispatches to. Not used by the rest of the simulator. Pure functions, thread-safe.

#include <string>
#include <string_view>

#include "dialects.h"

namespace tg::sim {

// The fixed "created" timestamp of every response.
inline constexpr std::string_view kCreated = "1700000000";

// An SSE event: "data: <data>\n\n", preceded by "event: <name>\n" when `name` is not empty.
std::string sseEvent(std::string_view name, std::string_view data);

// Per-provider builders; see dialects.h for what each answer contains.
Reply buildOpenAiReply(const Generation& gen);
StreamScript buildOpenAiStream(const Generation& gen);
Reply buildAnthropicReply(const Generation& gen);
StreamScript buildAnthropicStream(const Generation& gen);
Reply buildGeminiReply(const Generation& gen);
StreamScript buildGeminiStream(const Generation& gen);

}  // namespace tg::sim
