#include "usage/dialect.h"

#include "core/strings.h"

namespace tg::usage {
namespace {

// %XX decoding; a malformed escape is kept literally. '+' is not a space in a path.
std::string percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = core::hexDigitValue(s[i + 1]);
      int lo = core::hexDigitValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string_view lastSegment(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The Gemini method of the last path segment ("generateContent"), or empty.
std::string geminiMethod(std::string_view path) {
  std::string segment = percentDecode(lastSegment(path));
  size_t colon = segment.rfind(':');
  return colon == std::string::npos ? std::string() : segment.substr(colon + 1);
}

bool queryHasAltSse(std::string_view query) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (pair == "alt=sse") {
      return true;
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query.remove_prefix(amp + 1);
  }
  return false;
}

}  // namespace

const char* dialectName(Dialect dialect) {
  switch (dialect) {
    case Dialect::Unknown:
      return "unknown";
    case Dialect::OpenAIChat:
      return "openai_chat";
    case Dialect::OpenAICompletions:
      return "openai_completions";
    case Dialect::OpenAIResponses:
      return "openai_responses";
    case Dialect::OpenAIEmbeddings:
      return "openai_embeddings";
    case Dialect::Anthropic:
      return "anthropic";
    case Dialect::GeminiGenerate:
      return "gemini_generate";
    case Dialect::GeminiStream:
      return "gemini_stream";
    case Dialect::GeminiStreamSse:
      return "gemini_stream_sse";
    case Dialect::OllamaChat:
      return "ollama_chat";
    case Dialect::OllamaGenerate:
      return "ollama_generate";
  }
  return "unknown";
}

Dialect dialectFromPath(std::string_view method, std::string_view path, std::string_view query) {
  if (method != "POST") {
    return Dialect::Unknown;
  }
  if (path.size() > 1 && path.back() == '/') {
    path.remove_suffix(1);
  }
  std::string gemini = geminiMethod(path);
  if (gemini == "generateContent") {
    return Dialect::GeminiGenerate;
  }
  if (gemini == "streamGenerateContent") {
    return queryHasAltSse(query) ? Dialect::GeminiStreamSse : Dialect::GeminiStream;
  }
  auto endsWith = [&](std::string_view suffix) { return path.ends_with(suffix); };
  if (endsWith("/api/chat")) {
    return Dialect::OllamaChat;
  }
  if (endsWith("/api/generate")) {
    return Dialect::OllamaGenerate;
  }
  if (endsWith("/chat/completions")) {
    return Dialect::OpenAIChat;
  }
  if (endsWith("/completions")) {
    return Dialect::OpenAICompletions;
  }
  if (endsWith("/responses")) {
    return Dialect::OpenAIResponses;
  }
  if (endsWith("/embeddings")) {
    return Dialect::OpenAIEmbeddings;
  }
  if (endsWith("/messages") && path.find("/threads/") == std::string_view::npos) {
    return Dialect::Anthropic;
  }
  return Dialect::Unknown;
}

std::string geminiModelFromPath(std::string_view path) {
  if (path.size() > 1 && path.back() == '/') {
    path.remove_suffix(1);
  }
  std::string segment = percentDecode(lastSegment(path));
  size_t colon = segment.rfind(':');
  if (colon == std::string::npos) {
    return {};
  }
  segment.resize(colon);
  // A percent-encoded segment may carry the resource prefix ("models%2Fgemini-pro").
  size_t slash = segment.rfind('/');
  if (slash != std::string::npos) {
    segment.erase(0, slash + 1);
  }
  return segment;
}

}  // namespace tg::usage
