#include "proxy/errors.h"

#include "core/log.h"

namespace tg::proxy {

using config::Dialect;

const char* reasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

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
  std::string r;
  r.reserve(160 + extraHeaders.size() + body.size());
  r += "HTTP/1.1 ";
  r += std::to_string(status);
  r += ' ';
  r += reasonPhrase(status);
  r += "\r\nContent-Type: ";
  r += contentType;
  r += "\r\nContent-Length: ";
  r += std::to_string(body.size());
  r += "\r\n";
  if (!requestId.empty()) {
    r += "x-request-id: ";
    r += requestId;
    r += "\r\n";
  }
  r += extraHeaders;
  if (close) {
    r += "Connection: close\r\n";
  }
  r += "\r\n";
  r += body;
  return r;
}

std::string errorResponse(Dialect d, int status, std::string_view code, std::string_view message,
                          std::string_view requestId, bool close) {
  return httpResponse(status, "application/json", errorBody(d, status, code, message), requestId,
                      close);
}

}  // namespace tg::proxy
