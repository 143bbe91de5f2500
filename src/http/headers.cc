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

}  // namespace tg::http
