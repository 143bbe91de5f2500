#include "http/headers.h"

#include "core/strings.h"

namespace tg::http {

using core::iequals;

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

bool isHopByHop(std::string_view name) {
  static constexpr std::string_view kNames[] = {"connection",
                                                "keep-alive",
                                                "proxy-connection",
                                                "te",
                                                "trailer",
                                                "transfer-encoding",
                                                "upgrade",
                                                "proxy-authenticate",
                                                "proxy-authorization"};
  for (auto n : kNames) {
    if (iequals(name, n)) {
      return true;
    }
  }
  return false;
}

HopByHop::HopByHop(const HeaderList& headers) {
  for (const auto& h : headers) {
    if (iequals(h.name, "connection")) {
      for (auto tok : core::splitList(h.value)) {
        connectionTokens_.push_back(tok);
      }
    }
  }
}

bool HopByHop::contains(std::string_view name) const {
  if (isHopByHop(name)) {
    return true;
  }
  for (auto t : connectionTokens_) {
    if (iequals(t, name)) {
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
