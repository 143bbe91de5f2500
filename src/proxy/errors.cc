#include "proxy/errors.h"

#include "core/log.h"
#include "http/headers.h"

namespace tg::proxy {

using config::Dialect;

namespace {

const char* openaiType(int status) {
  if (status == 401) return "authentication_error";
  if (status == 429) return "rate_limit_error";
  if (status >= 500) return "upstream_error";
  return "invalid_request_error";
}

const char* anthropicType(int status) {
  switch (status) {
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
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

const char* geminiStatus(int status) {
  switch (status) {
    case 401:
      return "UNAUTHENTICATED";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 408:
    case 504:
      return "DEADLINE_EXCEEDED";
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 502:
    case 503:
      return "UNAVAILABLE";
    default:
      return status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT";
  }
}

}  // namespace

std::string errorBody(Dialect d, int status, std::string_view code, std::string_view message,
                      std::string_view openaiTypeName) {
  std::string b;
  b.reserve(160 + message.size());
  switch (d) {
    case Dialect::Anthropic:
      b += R"({"type":"error","error":{"type":")";
      b += anthropicType(status);
      b += R"(","message":")";
      core::appendJsonEscaped(b, message);
      b += "\"}}";
      break;
    case Dialect::Gemini:
      b += R"({"error":{"code":)";
      b += std::to_string(status);
      b += R"(,"message":")";
      core::appendJsonEscaped(b, message);
      b += R"(","status":")";
      b += geminiStatus(status);
      b += "\"}}";
      break;
    case Dialect::OpenAI:
      b += R"({"error":{"message":")";
      core::appendJsonEscaped(b, message);
      b += R"(","type":")";
      if (openaiTypeName.empty()) {
        b += openaiType(status);
      } else {
        core::appendJsonEscaped(b, openaiTypeName);
      }
      b += R"(","param":null,"code":")";
      core::appendJsonEscaped(b, code);
      b += "\"}}";
      break;
  }
  return b;
}

std::string httpResponse(int status, std::string_view contentType, std::string_view body,
                         std::string_view requestId, bool close, std::string_view extraHeaders) {
  std::string headers;
  headers.reserve(32 + requestId.size() + extraHeaders.size());
  if (!requestId.empty()) {
    http::appendField(headers, "x-request-id", requestId);
  }
  headers += extraHeaders;
  return http::buildResponse(status, contentType, body, close, headers);
}

std::string errorResponse(Dialect d, int status, std::string_view code, std::string_view message,
                          std::string_view requestId, bool close) {
  return httpResponse(status, "application/json", errorBody(d, status, code, message), requestId,
                      close);
}

}  // namespace tg::proxy
