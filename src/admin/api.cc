#include "admin/api.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <simdjson.h>

#include "core/log.h"
#include "core/strings.h"

namespace tg::admin {

namespace {

constexpr std::string_view kQuotaPrefix = "/admin/quota/";

RouteMatch found(Endpoint e) {
  RouteMatch m;
  m.endpoint = e;
  return m;
}

RouteMatch wrongMethod(std::string_view allow) {
  RouteMatch m;
  m.status = 405;
  m.allow = std::string(allow);
  m.error = "method not allowed; use " + m.allow;
  return m;
}

// A fixed path served by one method.
RouteMatch only(std::string_view method, std::string_view want, Endpoint e) {
  return method == want ? found(e) : wrongMethod(want);
}

RouteMatch routeQuota(std::string_view method, std::string_view rest) {
  // rest: "NAME", "NAME/increase" or "NAME/decrease" (NAME percent-encoded, no '/').
  std::string_view name = rest;
  std::string_view action;
  size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    name = rest.substr(0, slash);
    action = rest.substr(slash + 1);
    if (action != "increase" && action != "decrease") {
      RouteMatch m;
      m.status = 404;
      m.error = "no such endpoint; quota actions are /increase and /decrease";
      return m;
    }
  }
  RouteMatch m;
  if (action.empty()) {
    if (method == "GET") {
      m = found(Endpoint::QuotaGet);
    } else if (method == "PUT") {
      m = found(Endpoint::QuotaSet);
    } else if (method == "DELETE") {
      m = found(Endpoint::QuotaDelete);
    } else {
      return wrongMethod("GET, PUT, DELETE");
    }
  } else if (method != "POST") {
    return wrongMethod("POST");
  } else {
    m = found(action == "increase" ? Endpoint::QuotaIncrease : Endpoint::QuotaDecrease);
  }
  if (!percentDecode(name, m.consumer, false) || !validConsumerName(m.consumer)) {
    RouteMatch bad;
    bad.status = 400;
    bad.error = "invalid consumer name in the path (1 to 256 bytes, percent-encoded)";
    return bad;
  }
  return m;
}

void appendQuoted(std::string& out, std::string_view s) {
  out += '"';
  core::appendJsonEscaped(out, s);
  out += '"';
}

}  // namespace

RouteMatch route(std::string_view method, std::string_view target) {
  std::string_view path = targetPath(target);
  if (path == "/healthz") {
    return only(method, "GET", Endpoint::Healthz);
  }
  if (path == "/readyz") {
    return only(method, "GET", Endpoint::Readyz);
  }
  if (path == "/metrics") {
    return only(method, "GET", Endpoint::Metrics);
  }
  if (path == "/admin/config") {
    return only(method, "GET", Endpoint::Config);
  }
  if (path == "/admin/buckets") {
    return only(method, "GET", Endpoint::Buckets);
  }
  if (path == "/admin/buckets/reset") {
    return only(method, "POST", Endpoint::BucketsReset);
  }
  if (path == "/admin/top") {
    return only(method, "GET", Endpoint::Top);
  }
  if (path == "/admin/events") {
    return only(method, "GET", Endpoint::Events);
  }
  if (path == "/admin/reloads") {
    return only(method, "GET", Endpoint::Reloads);
  }
  if (path == "/" || path == "/console" || path == "/console/" || path == "/console/app.js" ||
      path == "/console/app.css") {
    RouteMatch m = only(method, "GET", Endpoint::Console);
    m.asset = std::string(path);
    return m;
  }
  if (path == "/admin/reload") {
    return only(method, "POST", Endpoint::Reload);
  }
  if (path.starts_with(kQuotaPrefix) && path.size() > kQuotaPrefix.size()) {
    return routeQuota(method, path.substr(kQuotaPrefix.size()));
  }
  RouteMatch m;
  m.status = 404;
  m.error = "no such endpoint: " + std::string(path.substr(0, 200));
  return m;
}

bool requiresAuth(Endpoint e) {
  return e != Endpoint::Healthz && e != Endpoint::Readyz && e != Endpoint::Console;
}

std::string_view targetPath(std::string_view target) {
  return target.substr(0, std::min(target.find('?'), target.size()));
}

std::string_view targetQuery(std::string_view target) {
  size_t q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

bool percentDecode(std::string_view in, std::string& out, bool plusIsSpace) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) {
        return false;
      }
      int hi = core::hexDigitValue(in[i + 1]);
      int lo = core::hexDigitValue(in[i + 2]);
      if (hi < 0 || lo < 0) {
        return false;
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plusIsSpace) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return true;
}

std::optional<std::string> queryParam(std::string_view query, std::string_view name) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = std::min(query.find('&', pos), query.size());
    std::string_view pair = query.substr(pos, amp - pos);
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, std::min(eq, pair.size()));
    if (key == name) {
      std::string v;
      std::string_view raw = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      if (!percentDecode(raw, v, true)) {
        return std::nullopt;
      }
      return v;
    }
    pos = amp + 1;
  }
  return std::nullopt;
}

bool validConsumerName(std::string_view name) {
  if (name.empty() || name.size() > 256) {
    return false;
  }
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return false;
    }
  }
  return true;
}

core::Result<TokenAuth> TokenAuth::make(std::string_view token) {
  TokenAuth a;
  if (token.empty()) {
    return a;
  }
  a.enabled_ = true;
  constexpr std::string_view kSha = "sha256:";
  if (token.starts_with(kSha)) {
    std::string_view hex = token.substr(kSha.size());
    if (hex.size() != 64) {
      return core::Error{"a sha256: token needs 64 hex digits"};
    }
    for (size_t i = 0; i < 32; ++i) {
      int hi = core::hexDigitValue(hex[2 * i]);
      int lo = core::hexDigitValue(hex[2 * i + 1]);
      if (hi < 0 || lo < 0) {
        return core::Error{"a sha256: token needs 64 hex digits"};
      }
      a.digest_[i] = static_cast<unsigned char>(hi * 16 + lo);
    }
    return a;
  }
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), a.digest_.data());
  return a;
}

bool TokenAuth::allows(std::string_view authorization) const {
  if (!enabled_) {
    return true;
  }
  std::string_view v = core::trimOws(authorization);
  constexpr std::string_view kBearer = "bearer ";
  if (!core::istartsWith(v, kBearer)) {
    return false;
  }
  std::string_view presented = core::trimOws(v.substr(kBearer.size()));
  if (presented.empty()) {
    return false;
  }
  std::array<unsigned char, 32> d{};
  SHA256(reinterpret_cast<const unsigned char*>(presented.data()), presented.size(), d.data());
  return CRYPTO_memcmp(d.data(), digest_.data(), d.size()) == 0;
}

core::Result<int64_t> parseIntegerBody(std::string_view body, std::string_view field,
                                       int64_t min) {
  std::string example = "{\"" + std::string(field) + "\": N}";
  if (core::trimOws(body).empty()) {
    return core::Error{"a JSON body is required: " + example};
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size(), true).get(root) != simdjson::SUCCESS) {
    return core::Error{"the body is not valid JSON; expected " + example};
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) {
    return core::Error{"the body must be a JSON object: " + example};
  }
  std::optional<int64_t> value;
  for (auto kv : obj) {
    if (kv.key != field) {
      return core::Error{"unknown key '" + std::string(kv.key.substr(0, 64)) + "'; expected " +
                         example};
    }
    int64_t v = 0;
    if (kv.value.get_int64().get(v) != simdjson::SUCCESS) {
      return core::Error{"'" + std::string(field) + "' must be an integer"};
    }
    value = v;
  }
  if (!value) {
    return core::Error{"missing '" + std::string(field) + "'; expected " + example};
  }
  if (*value < min || *value > kMaxQuotaValue) {
    return core::Error{"'" + std::string(field) + "' must be an integer from " +
                       std::to_string(min) + " to " + std::to_string(kMaxQuotaValue)};
  }
  return *value;
}

std::string jsonError(std::string_view code, std::string_view message) {
  std::string out = "{\"error\":{\"code\":";
  appendQuoted(out, code);
  out += ",\"message\":";
  appendQuoted(out, message);
  out += "}}\n";
  return out;
}

std::string jsonReloads(uint64_t generation, const std::vector<ReloadRecord>& reloads) {
  std::string out = "{\"generation\":" + std::to_string(generation) + ",\"reloads\":[";
  for (size_t i = 0; i < reloads.size(); ++i) {
    const ReloadRecord& r = reloads[i];
    out += i > 0 ? ",{\"time\":\"" : "{\"time\":\"";
    core::appendIsoTime(out, r.time);
    out += r.ok ? "\",\"ok\":true" : "\",\"ok\":false";
    out += ",\"generation\":" + std::to_string(r.generation) + ",\"errors\":[";
    for (size_t e = 0; e < r.errors.size(); ++e) {
      if (e > 0) {
        out += ',';
      }
      appendQuoted(out, r.errors[e]);
    }
    out += "]}";
  }
  out += "]}\n";
  return out;
}

std::string jsonQuota(std::string_view consumer, std::optional<int64_t> remaining) {
  std::string out = "{\"consumer\":";
  appendQuoted(out, consumer);
  if (remaining) {
    out += ",\"quota\":" + std::to_string(*remaining) + ",\"unlimited\":false}\n";
  } else {
    out += ",\"quota\":null,\"unlimited\":true}\n";
  }
  return out;
}

std::string renderResponse(int status, std::string_view contentType, std::string_view body,
                           bool close, std::string_view extraHeaders) {
  std::string headers = "Cache-Control: no-store\r\n";
  headers += extraHeaders;
  return http::buildResponse(status, contentType, body, close, headers);
}

}  // namespace tg::admin
