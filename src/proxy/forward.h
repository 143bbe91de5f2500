#pragma once
// The header rules of forwarding, as pure functions writing into reused strings:
// what the upstream receives (RFC 9110 hop-by-hop fields dropped, gateway-only fields
// dropped, the upstream's header operations applied, Host / X-Forwarded-* / x-request-id
// set by the gateway) and what the client receives back.

#include <string>
#include <string_view>

#include "config/config.h"
#include "http/request_reader.h"
#include "http/response_reader.h"

namespace tg::proxy {

// Fields a client may not set because only the gateway may: removed from every request.
bool isGatewayOnlyHeader(std::string_view name);

struct ForwardInfo {
  std::string_view clientIp;
  bool clientTls = false;
  std::string_view requestId;
  unsigned trustedProxies = 0;
  // Ask the upstream for an uncompressed body (LLM requests, whose usage is read on the side).
  bool identityEncoding = false;
  // Key-auth: the header that carried the client's gateway key (removed: the key is never
  // forwarded), and the authenticated consumer, sent as x-mse-consumer (Higress's header; a
  // client-sent one is always dropped as a gateway-only field). Empty = none.
  std::string_view keyHeader;
  std::string_view consumer;
};

// Removes every `name=...` parameter from the query of `target` (the gateway key, when it came
// in the query); drops the '?' when nothing is left.
void removeQueryParam(std::string& target, std::string_view name);

// Appends the request line and head for the upstream. The body follows with a Content-Length
// (a chunked client body was de-chunked by the reader).
void buildUpstreamRequest(std::string& out, const http::Request& req,
                          const config::UpstreamConfig& up, std::string_view target,
                          const ForwardInfo& info);

// The X-Forwarded-For value to send: the trusted tail of the client's list plus the peer.
std::string forwardedFor(const http::Request& req, std::string_view clientIp, unsigned trusted);

enum class Framing { None, Length, Chunked, Close };

// How the body of `head` is framed to a client speaking HTTP/1.`clientVersion`.
Framing clientFraming(const http::ResponseHead& head, bool headRequest, unsigned clientVersion);

// Appends the status line and head for the client.
// `dropContentEncoding`: the body is sent decoded (the gateway had to edit a compressed one).
// `extraHeaders`: complete "Name: value\r\n" lines the gateway adds (its x-ratelimit-*
// headers); when present, the upstream's own x-ratelimit-* fields are dropped so the client
// never sees two conflicting sets.
void buildClientResponseHead(std::string& out, const http::ResponseHead& head, Framing framing,
                             std::string_view requestId, bool keepAlive, unsigned clientVersion,
                             bool dropContentEncoding = false, std::string_view extraHeaders = {});

}  // namespace tg::proxy
