#include "proxy/forward.h"

#include <charconv>

#include "core/strings.h"

namespace tg::proxy {

using core::iequals;

namespace {

bool isGatewayOnly(http::Field f) {
  switch (f) {
    case http::Field::XTokengate:
    case http::Field::XMseConsumer:
    case http::Field::XRequestId:
    case http::Field::XForwardedFor:
    case http::Field::XForwardedProto:
    case http::Field::XForwardedHost:
    case http::Field::XRealIp:
    case http::Field::Forwarded:
      return true;
    default:
      return false;
  }
}

bool inList(const std::vector<std::string>& names, std::string_view n) {
  for (const auto& x : names) {
    if (iequals(x, n)) {
      return true;
    }
  }
  return false;
}

bool inOps(const std::vector<config::HeaderOp>& ops, std::string_view n) {
  for (const auto& op : ops) {
    if (iequals(op.name, n)) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool isGatewayOnlyHeader(std::string_view name) { return isGatewayOnly(http::classifyField(name)); }

std::string forwardedFor(const http::Request& req, std::string_view clientIp, unsigned trusted) {
  std::string out;
  if (trusted > 0) {
    std::vector<std::string_view> all;
    for (const auto& h : req.headers) {
      if (iequals(h.name, "x-forwarded-for")) {
        for (auto v : core::splitList(h.value)) {
          all.push_back(v);
        }
      }
    }
    size_t from = all.size() > trusted ? all.size() - trusted : 0;
    for (size_t i = from; i < all.size(); ++i) {
      out.append(all[i]);
      out.append(", ");
    }
  }
  out.append(clientIp);
  return out;
}

void removeQueryParam(std::string& target, std::string_view name) {
  const size_t q = target.find('?');
  if (q == std::string::npos || name.empty()) {
    return;
  }
  std::string kept;
  std::string_view query = std::string_view(target).substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    std::string_view key = pair.substr(0, pair.find('='));
    if (key == name) {
      continue;
    }
    if (!kept.empty()) {
      kept += '&';
    }
    kept.append(pair);
  }
  target.resize(kept.empty() ? q : q + 1);
  target += kept;
}

void buildUpstreamRequest(std::string& out, const http::Request& req,
                          const config::UpstreamConfig& up, std::string_view target,
                          const ForwardInfo& info) {
  http::HopByHop hop(req.headers);
  out.append(req.method);
  out += ' ';
  out.append(target);
  out.append(" HTTP/1.1\r\n");
  if (!inOps(up.setHeaders, "host")) {  // headers.set may name the virtual host instead
    http::appendField(out, "Host", up.authority());
  }
  std::string_view originalHost;
  for (const auto& h : req.headers) {
    const http::Field f = http::classifyField(h.name);
    if (f == http::Field::Host) {
      originalHost = h.value;
      continue;
    }
    if (f == http::Field::HopByHop || isGatewayOnly(f) || f == http::Field::ContentLength ||
        f == http::Field::Expect || (info.identityEncoding && f == http::Field::AcceptEncoding) ||
        hop.namedByConnection(h.name) || inList(up.removeHeaders, h.name) ||
        (!info.keyHeader.empty() && iequals(h.name, info.keyHeader)) ||
        inOps(up.setHeaders, h.name)) {
      continue;
    }
    http::appendField(out, h.name, h.value);
  }
  for (const auto& op : up.setHeaders) {
    http::appendField(out, op.name, op.value);
  }
  for (const auto& op : up.addHeaders) {
    http::appendField(out, op.name, op.value);
  }
  http::appendField(out, "X-Forwarded-For", forwardedFor(req, info.clientIp, info.trustedProxies));
  http::appendField(out, "X-Forwarded-Proto", info.clientTls ? "https" : "http");
  if (!originalHost.empty()) {
    http::appendField(out, "X-Forwarded-Host", originalHost);
  }
  http::appendField(out, "x-request-id", info.requestId);
  if (!info.consumer.empty()) {
    http::appendField(out, "x-mse-consumer", info.consumer);
  }
  if (info.identityEncoding) {
    out.append("Accept-Encoding: identity\r\n");
  }
  if (!req.body.empty() || req.contentLength || req.chunked) {
    char len[24];
    auto r = std::to_chars(len, len + sizeof len, req.body.size());
    http::appendField(out, "Content-Length", std::string_view(len, r.ptr - len));
  }
  out.append("\r\n");
}

Framing clientFraming(const http::ResponseHead& head, bool headRequest, unsigned clientVersion) {
  if (headRequest || head.status == 204 || head.status == 304 ||
      (head.status >= 100 && head.status < 200)) {
    return Framing::None;
  }
  if (head.contentLength && !head.chunked) {
    return Framing::Length;
  }
  return clientVersion >= 11 ? Framing::Chunked : Framing::Close;
}

void buildClientResponseHead(std::string& out, const http::ResponseHead& head, Framing framing,
                             std::string_view requestId, bool keepAlive, unsigned clientVersion,
                             bool dropContentEncoding, std::string_view extraHeaders) {
  http::HopByHop hop(head.headers);
  out.append("HTTP/1.1 ");
  char status[16];
  auto sr = std::to_chars(status, status + sizeof status, head.status);
  out.append(status, sr.ptr);
  out += ' ';
  out.append(head.reason);
  out.append("\r\n");
  for (const auto& h : head.headers) {
    const http::Field f = http::classifyField(h.name);
    if (f == http::Field::HopByHop || f == http::Field::ContentLength ||
        (dropContentEncoding && f == http::Field::ContentEncoding) ||
        (!extraHeaders.empty() && f == http::Field::XRatelimit) || hop.namedByConnection(h.name)) {
      continue;
    }
    if (f == http::Field::XRequestId) {
      // The provider's own id stays available beside the gateway's.
      http::appendField(out, "x-upstream-request-id", h.value);
      continue;
    }
    http::appendField(out, h.name, h.value);
  }
  if (framing == Framing::Length || (framing == Framing::None && head.contentLength)) {
    char len[24];
    auto r = std::to_chars(len, len + sizeof len, head.contentLength.value_or(0));
    http::appendField(out, "Content-Length", std::string_view(len, r.ptr - len));
  } else if (framing == Framing::Chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
  http::appendField(out, "x-request-id", requestId);
  out.append(extraHeaders);
  if (!keepAlive || framing == Framing::Close) {
    out.append("Connection: close\r\n");
  } else if (clientVersion < 11) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

}  // namespace tg::proxy
