#include "http/headers.h"

#include "core/strings.h"

namespace tg::http {

using core::iequals;

std::optional<std::string_view> headerValue(const HeaderList& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (core::iequals(h.name, name)) {
      return h.value;
    }
  }
  return std::nullopt;
}

std::string_view findHeader(const HeaderList& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) {
      return h.value;
    }
  }
  return {};
}

bool hasHeader(const HeaderList& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) {
      return true;
    }
  }
  return false;
}

Field classifyField(std::string_view n) {
  using core::iequals;
  using core::istartsWith;
  if (n.size() >= 12 && (n[0] == 'x' || n[0] == 'X') && n[1] == '-') {
    if (istartsWith(n, "x-tokengate-")) {
      return Field::XTokengate;
    }
    if (istartsWith(n, "x-ratelimit-")) {
      return Field::XRatelimit;
    }
  }
  switch (n.size()) {
    case 2:
      return iequals(n, "te") ? Field::HopByHop : Field::Other;
    case 4:
      return iequals(n, "host") ? Field::Host : Field::Other;
    case 6:
      return iequals(n, "expect") ? Field::Expect : Field::Other;
    case 7:
      return iequals(n, "trailer") || iequals(n, "upgrade") ? Field::HopByHop : Field::Other;
    case 9:
      return iequals(n, "forwarded")   ? Field::Forwarded
             : iequals(n, "x-real-ip") ? Field::XRealIp
                                       : Field::Other;
    case 10:
      return iequals(n, "connection") || iequals(n, "keep-alive") ? Field::HopByHop : Field::Other;
    case 12:
      return iequals(n, "x-request-id") ? Field::XRequestId : Field::Other;
    case 14:
      return iequals(n, "content-length")   ? Field::ContentLength
             : iequals(n, "x-mse-consumer") ? Field::XMseConsumer
                                            : Field::Other;
    case 15:
      return iequals(n, "accept-encoding")   ? Field::AcceptEncoding
             : iequals(n, "x-forwarded-for") ? Field::XForwardedFor
                                             : Field::Other;
    case 16:
      return iequals(n, "proxy-connection")   ? Field::HopByHop
             : iequals(n, "x-forwarded-host") ? Field::XForwardedHost
             : iequals(n, "content-encoding") ? Field::ContentEncoding
                                              : Field::Other;
    case 17:
      return iequals(n, "transfer-encoding")   ? Field::HopByHop
             : iequals(n, "x-forwarded-proto") ? Field::XForwardedProto
                                               : Field::Other;
    case 18:
      return iequals(n, "proxy-authenticate") ? Field::HopByHop : Field::Other;
    case 19:
      return iequals(n, "proxy-authorization") ? Field::HopByHop : Field::Other;
    default:
      return Field::Other;
  }
}

bool isHopByHop(std::string_view name) { return classifyField(name) == Field::HopByHop; }

namespace {

// Calls fn(token) for each comma-separated token of `value`, whitespace trimmed; stops when fn
// returns true, and returns whether it did.
template <class Fn>
bool anyToken(std::string_view value, Fn fn) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    std::string_view tok = core::trimOws(value.substr(0, comma));
    if (!tok.empty() && fn(tok)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

HopByHop::HopByHop(const HeaderList& headers) : headers_(headers) {
  for (const auto& h : headers) {
    if (h.name.size() == 10 && core::iequals(h.name, "connection") &&
        anyToken(h.value,
                 [](std::string_view t) { return !isHopByHop(t) && !core::iequals(t, "close"); })) {
      namesOthers_ = true;
      return;
    }
  }
}

bool HopByHop::contains(std::string_view name) const {
  return isHopByHop(name) || namedByConnection(name);
}

bool HopByHop::namedByConnection(std::string_view name) const {
  if (!namesOthers_) {
    return false;
  }
  for (const auto& h : headers_) {
    if (core::iequals(h.name, "connection") &&
        anyToken(h.value, [name](std::string_view t) { return core::iequals(t, name); })) {
      return true;
    }
  }
  return false;
}

void appendChunkHeader(std::string& out, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[24];
  int i = sizeof buf;
  buf[--i] = '\n';
  buf[--i] = '\r';
  do {
    buf[--i] = kHex[size & 15];
    size >>= 4;
  } while (size != 0);
  out.append(buf + i, sizeof buf - static_cast<size_t>(i));
}

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
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
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

std::string buildResponse(int status, std::string_view contentType, std::string_view body,
                          bool close, std::string_view extraHeaders) {
  std::string r;
  r.reserve(128 + contentType.size() + extraHeaders.size() + body.size());
  r += "HTTP/1.1 ";
  r += std::to_string(status);
  r += ' ';
  r += reasonPhrase(status);
  r += "\r\nContent-Type: ";
  r += contentType;
  r += "\r\nContent-Length: ";
  r += std::to_string(body.size());
  r += "\r\n";
  r += extraHeaders;
  if (close) {
    r += "Connection: close\r\n";
  }
  r += "\r\n";
  r += body;
  return r;
}

}  // namespace tg::http
