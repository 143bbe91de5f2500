#pragma once
// The admin API's pure parts: which endpoint a request names, bearer-token authentication,
// request bodies and query parameters, and the JSON and HTTP bytes of responses. No I/O, no
// io_context: server.h runs these over sockets and calls the gateway's hooks. Everything here
// is unit-tested directly (tests/unit/admin).
//
// Endpoints (docs/admin.md):
//   GET    /healthz                       no auth
//   GET    /readyz                        no auth
//   GET    / , /console, /console/app.js, /console/app.css   no auth (the console, admin/console.h)
//   GET    /metrics
//   GET    /admin/config
//   GET    /admin/buckets?consumer=NAME[&route=R][&model=M]
//   POST   /admin/buckets/reset?consumer=NAME[&route=R][&model=M]
//   GET    /admin/top[?n=10]
//   GET    /admin/events[?after=SEQ]
//   GET    /admin/reloads
//   GET    /admin/quota/NAME
//   PUT    /admin/quota/NAME                 {"quota": N}
//   DELETE /admin/quota/NAME
//   POST   /admin/quota/NAME/increase        {"amount": N}
//   POST   /admin/quota/NAME/decrease        {"amount": N}
//   POST   /admin/reload

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "http/headers.h"

namespace tg::admin {

enum class Endpoint {
  Healthz,
  Readyz,
  Metrics,
  Config,
  Buckets,
  BucketsReset,
  Top,
  Events,
  Reloads,
  Console,  // a static file of the console: RouteMatch::asset is its URL path
  QuotaGet,
  QuotaSet,
  QuotaDelete,
  QuotaIncrease,
  QuotaDecrease,
  Reload,
};

// The outcome of routing one request line. When `endpoint` is empty, `status` (404 unknown
// path, 405 wrong method with `allow` listing the right ones, 400 malformed NAME) and `error`
// say why.
struct RouteMatch {
  std::optional<Endpoint> endpoint;
  int status = 200;
  std::string allow;     // 405: "GET", "PUT, DELETE, GET", ...
  std::string error;     // a message for the JSON error body
  std::string consumer;  // the quota endpoints: NAME, percent-decoded
  std::string asset;     // Console: the path ("/", "/console", "/console/app.js", ...)
};

// `target` is the request target as received ("/admin/quota/alice?x=1"); the query is ignored.
RouteMatch route(std::string_view method, std::string_view target);

// Every endpoint but /healthz, /readyz and the console's static files needs the token.
bool requiresAuth(Endpoint e);

// "/a/b?c=d" -> "/a/b" and "c=d".
std::string_view targetPath(std::string_view target);
std::string_view targetQuery(std::string_view target);

// Percent-decoding (and '+' as a space when `plusIsSpace`, for query strings). False on a
// malformed escape.
bool percentDecode(std::string_view in, std::string& out, bool plusIsSpace);

// The decoded value of query parameter `name` (first occurrence); nullopt when absent or
// malformed.
std::optional<std::string> queryParam(std::string_view query, std::string_view name);

// A consumer name from a path or query: 1..256 bytes, no control characters.
bool validConsumerName(std::string_view name);

// Bearer-token authentication. The token is kept only as its SHA-256 digest; a presented token
// is hashed and the digests are compared with CRYPTO_memcmp (constant time: the comparison
// leaks neither the token nor how much of it matched).
class TokenAuth {
 public:
  // `token`: "" (no authentication), a plain token, or "sha256:<64 hex digits>" (the digest of
  // the token, so the config file need not hold the secret). Errors on malformed sha256: forms.
  static core::Result<TokenAuth> make(std::string_view token);
  TokenAuth() = default;

  bool enabled() const { return enabled_; }
  // The value of the Authorization header: "Bearer <token>" (scheme case-insensitive). Always
  // true when no token is configured.
  bool allows(std::string_view authorization) const;

 private:
  bool enabled_ = false;
  std::array<unsigned char, 32> digest_{};
};

// The upper bound of quotas and amounts: 2^53 - 1, the largest integer every JSON client
// (JavaScript included) represents exactly.
inline constexpr int64_t kMaxQuotaValue = (int64_t{1} << 53) - 1;

// `{"<field>": N}`: a JSON object with exactly that integer field, N in [min, kMaxQuotaValue].
// The error says what was wrong, for a 400.
core::Result<int64_t> parseIntegerBody(std::string_view body, std::string_view field,
                                       int64_t min);

// JSON responses.
std::string jsonError(std::string_view code, std::string_view message);

// One config reload as GET /admin/reloads reports it.
struct ReloadRecord {
  std::chrono::system_clock::time_point time;
  bool ok = false;
  uint64_t generation = 0;  // the generation running after it
  std::vector<std::string> errors;
};
// {"generation":N,"reloads":[{"time":"<ISO 8601>","ok":b,"generation":N,"errors":[...]},...]}
std::string jsonReloads(uint64_t generation, const std::vector<ReloadRecord>& reloads);
std::string jsonQuota(std::string_view consumer, std::optional<int64_t> remaining);

// A whole HTTP/1.1 response: status line, Content-Type, Content-Length, Cache-Control:
// no-store, `extraHeaders` (each "Name: value\r\n"), Connection: close when `close`, body.
std::string renderResponse(int status, std::string_view contentType, std::string_view body,
                           bool close, std::string_view extraHeaders = {});
using http::reasonPhrase;

}  // namespace tg::admin
