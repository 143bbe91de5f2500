#include "config/config.h"

#include <charconv>

namespace tg::config {

const char* dialectName(Dialect d) {
  switch (d) {
    case Dialect::OpenAI:
      return "openai";
    case Dialect::Anthropic:
      return "anthropic";
    case Dialect::Gemini:
      return "gemini";
  }
  return "openai";
}

std::string UpstreamConfig::authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if ((https && port == 443) || (!https && port == 80)) {
    return h;
  }
  return h + ":" + std::to_string(port);
}

bool parseHostPort(const std::string& s, std::string& host, uint16_t& port) {
  std::string_view v = s;
  size_t colon;
  if (!v.empty() && v.front() == '[') {
    size_t close = v.find(']');
    if (close == std::string_view::npos || close + 1 >= v.size() || v[close + 1] != ':') {
      return false;
    }
    host = std::string(v.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = v.rfind(':');
    if (colon == std::string_view::npos) {
      return false;
    }
    host = std::string(v.substr(0, colon));
    if (host.find(':') != std::string::npos) {
      return false;  // bare IPv6 needs brackets
    }
  }
  std::string_view p = v.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || ptr != p.data() + p.size() || value > 65535 || host.empty()) {
    return false;
  }
  port = static_cast<uint16_t>(value);
  return true;
}

std::string parseUpstreamUrl(const std::string& url, UpstreamConfig& u) {
  std::string_view v = url;
  if (v.starts_with("https://")) {
    u.https = true;
    v.remove_prefix(8);
  } else if (v.starts_with("http://")) {
    u.https = false;
    v.remove_prefix(7);
  } else {
    return "must start with http:// or https://";
  }
  size_t slash = v.find_first_of("/?#");
  std::string_view authority = v.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : v.substr(slash);
  for (char c : v) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return "must not contain spaces or control characters";
    }
  }
  if (path.find_first_of("?#") != std::string_view::npos) {
    return "must not contain a query or fragment";
  }
  if (authority.empty()) {
    return "has no host";
  }
  if (authority.find('@') != std::string_view::npos) {
    return "must not contain credentials (use headers.set)";
  }
  std::string hp(authority);
  bool hasPort =
      hp.front() == '[' ? hp.find("]:") != std::string::npos : hp.find(':') != std::string::npos;
  if (!hasPort) {
    hp += u.https ? ":443" : ":80";
  }
  if (!parseHostPort(hp, u.host, u.port) || u.port == 0) {
    return "has an invalid host or port";
  }
  while (!path.empty() && path.back() == '/') {
    path.remove_suffix(1);
  }
  u.basePath = std::string(path);
  return "";
}

}  // namespace tg::config
