#pragma once
// AdminServer: the operators' HTTP/1.1 API on its own listener (default 127.0.0.1:9901), apart
// from the gateway's client listeners. The endpoints are listed in admin/api.h and documented
// with curl examples in docs/admin.md.
//
// What it does itself: accepting, reading requests with hard limits (http::RequestReader: head
// size, field count, a small body, header/body/idle timeouts), routing, bearer-token auth
// (constant-time, admin/api.h TokenAuth) on everything but /healthz, /readyz and the operator
// console's static files (admin/console.h: GET / and /console), JSON bodies,
// and the quota endpoints, which go straight to the quota buckets of a store::Store
// (store/quota.h). Everything that needs the
// gateway's state (readiness, metrics, config, buckets, top consumers, reload) is a Hook the
// gateway provides; a hook left empty answers 501 Not Implemented with a JSON error, so the
// server can be wired one hook at a time.
//
// Threads: the server, its connections and every hook call run on the ONE thread that runs the
// io_context given to create() (the gateway's main io_context). An asynchronous hook may call
// its `done` from any thread, once, inline or later: the answer is posted back to the server's
// thread. A hook that has not answered after `hookTimeout` gets a 504 (a late answer is then
// dropped).
//
// Lifetime: stop() closes the listener and every connection; connections hold the server's
// shared state, so the AdminServer object may be destroyed right after stop(), but the hooks'
// captures and the quota Store must stay valid while the io_context still runs handlers.
//
// Security: with no token configured every endpoint is open, so create() refuses a listen
// address that is not a loopback address. Responses carry Cache-Control: no-store. The token is
// never logged.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "http/net.h"
#include "store/quota.h"

namespace tg::admin {

// The buckets one consumer's requests use (GET /admin/buckets), as the limiter and the store
// see them now.
struct BucketView {
  std::string key;     // the limiter's bucket key
  std::string policy;  // policy name
  std::string rule;    // rule name
  std::string unit;    // what is counted: "tokens", "requests", "concurrent", ...
  int64_t limit = 0;
  int64_t windowMs = 0;  // 0 for a concurrency limit
  int64_t used = 0;
  int64_t remaining = 0;
  int64_t resetMs = 0;  // until the window resets / the bucket is full again
};

// The selection of GET /admin/buckets and POST /admin/buckets/reset: the buckets a request of
// `consumer` on `route` (name; "" = every route) for `model` ("" = any) would use.
struct BucketQuery {
  std::string consumer;
  std::string route;
  std::string model;
};

struct BucketsReply {
  bool ok = true;     // false: 503 with `error` (e.g. the store could not answer)
  std::string error;  // or, when !ok and notFound: 404
  bool notFound = false;  // the consumer (or route) is unknown
  std::vector<BucketView> buckets;
};

struct ResetReply {
  bool ok = true;
  std::string error;
  bool notFound = false;
  size_t reset = 0;  // buckets reset
};

struct ReloadReply {
  bool ok = false;
  std::vector<std::string> errors;  // "file:line: path: message" per config error
};

struct TopEntry {
  std::string consumer;
  int64_t tokens = 0;
};

// The gateway's side of the admin API. Every member is optional: empty -> 501.
struct Hooks {
  // GET /readyz: true -> 200 {"status":"ready"}, false -> 503 {"status":"not_ready"}.
  std::function<bool()> ready;
  // GET /metrics: the Prometheus text exposition (text/plain; version=0.0.4).
  std::function<std::string()> metrics;
  // GET /admin/config: the running config as a JSON document, secrets redacted
  // (admin/config_json.h configJson() does it for a config::Config).
  std::function<std::string()> config;
  // GET /admin/buckets: asynchronous (a Redis peek is). Call `done` once, from any thread.
  // The query is valid during the call only (copy what a later `done` needs).
  std::function<void(const BucketQuery&, std::function<void(BucketsReply)> done)> buckets;
  // POST /admin/buckets/reset: asynchronous, as buckets.
  std::function<void(const BucketQuery&, std::function<void(ResetReply)> done)> resetBuckets;
  // GET /admin/top?n=N: the N consumers with the most tokens, most first (n is 1..1000).
  std::function<std::vector<TopEntry>(size_t n)> top;
  // GET /admin/events?after=SEQ: the recent rate-limit events newer than SEQ, as the JSON
  // document {"events":[{"seq":N,...}],"next":M} (proxy/event_ring.h). Called on the server's
  // thread; it must be cheap and thread-safe against the workers.
  std::function<std::string(uint64_t after)> events;
  // GET /admin/reloads: the config generation and the recent reloads, as the JSON document
  // {"generation":N,"reloads":[{"time":"...","ok":true,"generation":N,"errors":[...]}]}
  // (newest last). Called on the server's thread.
  std::function<std::string()> reloads;
  // POST /admin/reload: validate and apply the config file; 200 when ok, else 422 + errors.
  std::function<ReloadReply()> reload;
};

struct AdminOptions {
  std::string host = "127.0.0.1";  // an IP address, or "localhost"
  uint16_t port = 9901;            // 0: a free port (port() tells which)
  // "" (no auth: loopback only), a plain token, or "sha256:<hex>" of the token.
  std::string token;
  // The quota endpoints' store; null -> 501 ("quotas are not enabled"). Not owned; it must be
  // usable from the server's thread (a RedisStore created on that io_context).
  store::Store* quota = nullptr;
  // Request limits: admin requests are small.
  uint64_t maxBodyBytes = 64 * 1024;
  uint64_t maxHeaderBytes = 16 * 1024;
  unsigned maxHeaders = 64;
  std::chrono::milliseconds headerTimeout{5'000};
  std::chrono::milliseconds bodyTimeout{10'000};
  std::chrono::milliseconds idleTimeout{30'000};  // keep-alive, and writing a response
  std::chrono::milliseconds hookTimeout{10'000};  // an async hook or a quota store call
  unsigned maxConnections = 64;  // more are accepted and closed at once
  unsigned maxRequestsPerConnection = 1000;
};

class AdminServer {
 public:
  // Validates the options (token format; no token on a non-loopback address is an error) and
  // binds the listener. Nothing is served before start().
  static core::Result<std::unique_ptr<AdminServer>> create(http::net::io_context& io,
                                                           AdminOptions options, Hooks hooks);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Starts accepting (on the io_context's thread).
  void start();
  // Closes the listener and every connection (in-flight responses are cut). Idempotent. Call
  // on the io_context's thread (or post it there).
  void stop();

  uint16_t port() const;
  // "127.0.0.1:9901", as bound.
  std::string address() const;

  struct State;

 private:
  explicit AdminServer(std::shared_ptr<State> s);
  std::shared_ptr<State> s_;
};

}  // namespace tg::admin
