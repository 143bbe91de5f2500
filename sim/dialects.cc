#include <cstdio>

#include "dialect_parts.h"
#include "json_text.h"

namespace tg::sim {
namespace {

// Each is one token in o200k_base and cl100k_base, and stays one token when concatenated
// (the pre-tokenizer splits before every leading space).
constexpr std::string_view kWords[] = {" the", " of", " and",  " to", " in",  " is", " it", " that",
                                       " for", " on", " with", " as", " was", " at", " by", " be"};
constexpr int kWordCount = sizeof(kWords) / sizeof(kWords[0]);

std::string_view anthropicErrorType(int status) {
  switch (status) {
    case 400:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

std::string_view geminiStatus(int status) {
  switch (status) {
    case 400:
      return "INVALID_ARGUMENT";
    case 401:
      return "UNAUTHENTICATED";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 409:
      return "ABORTED";
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 499:
      return "CANCELLED";
    case 500:
      return "INTERNAL";
    case 501:
      return "UNIMPLEMENTED";
    case 503:
      return "UNAVAILABLE";
    case 504:
      return "DEADLINE_EXCEEDED";
    default:
      return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
  }
}

}  // namespace

std::string_view outputWord(int index) { return kWords[index % kWordCount]; }

std::string outputText(int tokens) {
  std::string text;
  text.reserve(static_cast<size_t>(tokens) * 5);
  for (int i = 0; i < tokens; ++i) {
    text.append(outputWord(i));
  }
  return text;
}

std::string idString(std::string_view prefix, uint64_t seq) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%06llu", static_cast<unsigned long long>(seq));
  std::string id(prefix);
  id.append(digits);
  return id;
}

std::string sseEvent(std::string_view name, std::string_view data) {
  std::string event;
  event.reserve(name.size() + data.size() + 16);
  if (!name.empty()) {
    event.append("event: ").append(name).append("\n");
  }
  event.append("data: ").append(data).append("\n\n");
  return event;
}

Reply buildReply(const Generation& gen) {
  switch (dialectOf(gen.api)) {
    case Dialect::Anthropic:
      return buildAnthropicReply(gen);
    case Dialect::Gemini:
      return buildGeminiReply(gen);
    default:
      return buildOpenAiReply(gen);
  }
}

StreamScript buildStream(const Generation& gen) {
  switch (dialectOf(gen.api)) {
    case Dialect::Anthropic:
      return buildAnthropicStream(gen);
    case Dialect::Gemini:
      return buildGeminiStream(gen);
    default:
      return buildOpenAiStream(gen);
  }
}

Reply buildError(Dialect dialect, int status, std::string_view message, bool gemini_array) {
  Reply reply;
  reply.status = status;
  std::string& body = reply.body;
  switch (dialect) {
    case Dialect::OpenAi: {
      std::string_view type = "invalid_request_error";
      std::string_view code = "null";
      if (status == 429) {
        type = "requests";
        code = "\"rate_limit_exceeded\"";
      } else if (status >= 500) {
        type = "server_error";
      } else if (status == 401) {
        code = "\"invalid_api_key\"";
      } else if (status == 404) {
        code = "\"unknown_url\"";
      }
      body = R"({"error":{"message":)" + jsonString(message) + R"(,"type":")";
      body.append(type).append(R"(","param":null,"code":)").append(code).append("}}");
      break;
    }
    case Dialect::Anthropic:
      body = R"({"type":"error","error":{"type":")";
      body.append(anthropicErrorType(status)).append(R"(","message":)");
      body.append(jsonString(message)).append("}}");
      break;
    case Dialect::Gemini:
      body = R"({"error":{"code":)" + std::to_string(status) + R"(,"message":)";
      body.append(jsonString(message)).append(R"(,"status":")");
      body.append(geminiStatus(status)).append("\"}}");
      if (gemini_array) {
        body = "[" + body + "]";
      }
      break;
  }
  if (status == 429) {
    reply.headers.emplace_back("retry-after", "1");
  }
  return reply;
}

}  // namespace tg::sim
