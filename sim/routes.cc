#include "routes.h"

namespace tg::sim {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Decodes %XX escapes; malformed escapes are kept literally.
std::string percentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int hi = hexValue(text[i + 1]);
      int lo = hexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

bool hasQueryParam(std::string_view query, std::string_view key, std::string_view value) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == key &&
        percentDecode(pair.substr(eq + 1)) == value) {
      return true;
    }
  }
  return false;
}

// Gemini: ".../v1beta/models/{model}:{method}" (".../v1/models/..." too).
std::optional<Route> matchGemini(std::string_view path, std::string_view query) {
  auto models = path.rfind("/models/");
  if (models == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view version = path.substr(0, models);
  if (!version.ends_with("/v1beta") && !version.ends_with("/v1")) {
    return std::nullopt;
  }
  std::string_view rest = path.substr(models + 8);
  auto colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || rest.find('/') != std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view method = rest.substr(colon + 1);
  Route route{Api::GeminiGenerate, percentDecode(rest.substr(0, colon)), false};
  if (method == "streamGenerateContent") {
    route.api = Api::GeminiStream;
    route.gemini_sse = hasQueryParam(query, "alt", "sse");
  } else if (method != "generateContent") {
    return std::nullopt;
  }
  return route;
}

bool isEcho(std::string_view path) {
  auto pos = path.find("/sim/echo");
  while (pos != std::string_view::npos) {
    std::string_view after = path.substr(pos + 9);
    if (after.empty() || after.front() == '/') {
      return true;
    }
    pos = path.find("/sim/echo", pos + 1);
  }
  return false;
}

}  // namespace

Dialect dialectOf(Api api) {
  switch (api) {
    case Api::AnthropicMessages:
      return Dialect::Anthropic;
    case Api::GeminiGenerate:
    case Api::GeminiStream:
      return Dialect::Gemini;
    default:
      return Dialect::OpenAi;
  }
}

std::optional<Route> matchRoute(std::string_view method, std::string_view target) {
  auto question = target.find('?');
  std::string_view path = target.substr(0, question);
  std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);

  if (isEcho(path)) {
    return Route{Api::Echo};
  }
  if (method == "GET") {
    if (path == "/sim/stats") {
      return Route{Api::Stats};
    }
    if (path == "/health") {
      return Route{Api::Health};
    }
    if (path.ends_with("/v1/models")) {
      return Route{Api::OpenAiModels};
    }
    return std::nullopt;
  }
  if (method != "POST") {
    return std::nullopt;
  }
  struct Suffix {
    std::string_view suffix;
    Api api;
  };
  static constexpr Suffix kSuffixes[] = {
      {"/v1/chat/completions", Api::OpenAiChat}, {"/v1/completions", Api::OpenAiCompletions},
      {"/v1/responses", Api::OpenAiResponses},   {"/v1/embeddings", Api::OpenAiEmbeddings},
      {"/v1/messages", Api::AnthropicMessages},
  };
  for (const auto& entry : kSuffixes) {
    if (path.ends_with(entry.suffix)) {
      return Route{entry.api};
    }
  }
  return matchGemini(path, query);
}

}  // namespace tg::sim
