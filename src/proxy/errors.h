#pragma once
// Errors the gateway answers itself, in the caller's dialect:
//   OpenAI     {"error":{"message":...,"type":...,"param":null,"code":...}}
//   Anthropic  {"type":"error","error":{"type":...,"message":...}}
//   Gemini     {"error":{"code":N,"message":...,"status":...}}
// The type/status names follow each provider's own for the same HTTP status, so official
// SDKs map them to their usual exception classes.

#include <string>
#include <string_view>

#include "config/config.h"
#include "http/headers.h"

namespace tg::proxy {

// `openaiType`: the OpenAI "type" member; "" = the usual one for `status` (rate limits use
// "tokens" / "requests", as OpenAI does).
std::string errorBody(config::Dialect d, int status, std::string_view code,
                      std::string_view message, std::string_view openaiType = {});

// A complete HTTP/1.1 response: status line, Content-Type, Content-Length, x-request-id,
// `extraHeaders` (complete "Name: value\r\n" lines), "Connection: close" when `close`, body.
std::string httpResponse(int status, std::string_view contentType, std::string_view body,
                         std::string_view requestId, bool close,
                         std::string_view extraHeaders = {});

// A complete HTTP/1.1 response carrying errorBody(), with x-request-id and, when `close`,
// "Connection: close".
std::string errorResponse(config::Dialect d, int status, std::string_view code,
                          std::string_view message, std::string_view requestId, bool close);

using http::reasonPhrase;

}  // namespace tg::proxy
