#pragma once
// The gateway's configuration as plain data. Every field has its default here; loader.h fills
// it from YAML and validate() checks it as a whole. Runtime classes take `const X&` of these
// structs and never see YAML. A Config is immutable once built and shared between worker
// threads as std::shared_ptr<const Config>.
//
// Every key is documented, with its default, in examples/tokengate.yaml and the README.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tg::config {

using Millis = std::chrono::milliseconds;

struct TlsServerConfig {
  std::string certFile;
  std::string keyFile;
};

struct ListenerConfig {
  std::string address;  // as written, "host:port"
  std::string host;     // without brackets for IPv6
  uint16_t port = 0;
  std::optional<TlsServerConfig> tls;
};

struct ServerConfig {
  unsigned workers = 0;  // 0 = one per core
  Millis drainTimeout{30'000};
  std::string accessLog = "stdout";  // stdout | stderr | off | path
  // Rate-limit events (rejections, shadow rejections, store failures, quota): one JSON line
  // each. stdout | stderr | off | path.
  std::string rateLimitLog = "off";
  unsigned trustedProxies = 0;
};

struct LimitsConfig {
  uint64_t maxHeaderBytes = 64 * 1024;
  unsigned maxHeaders = 100;
  uint64_t maxBodyBytes = 8 * 1024 * 1024;
  Millis headerTimeout{10'000};
  Millis bodyTimeout{60'000};
  Millis idleTimeout{60'000};
  uint64_t maxRequestsPerConnection = 0;  // 0 = unlimited
};

struct HeaderOp {
  std::string name;
  std::string value;
};

struct UpstreamTls {
  bool verify = true;
  std::string caFile;      // empty = system CAs
  std::string serverName;  // empty = URL host
};

// `upstreams[].circuit_breaker` (proxy/breaker.h): absent = no breaker.
struct CircuitBreakerConfig {
  struct StatusRange {
    int from = 500;
    int to = 599;
  };
  unsigned consecutiveFailures = 5;  // failures in a row that open the circuit; 0 = off
  unsigned errorRatePercent = 50;    // failed share of the window that opens it; 0 = off
  Millis window{10'000};             // the error-rate window
  unsigned minRequests = 20;         // results in the window before the rate counts
  Millis openFor{30'000};            // cool-down before half-open
  Millis maxOpenFor{0};  // > openFor: each failed probe doubles the cool-down up to this
  unsigned halfOpenProbes = 1;  // requests let through while half-open; all must succeed
  // Upstream response statuses that count as failures (429 is not one unless listed).
  std::vector<StatusRange> failureStatuses{StatusRange{500, 599}};
};

// Protection of an upstream (a self-hosted model server) from overload: at most maxConcurrent
// requests and maxTokensInFlight reserved tokens (prompt estimate + output cap) in progress,
// across all workers; requests beyond them wait in a fair queue (proxy/upstream_gate.h).
struct UpstreamGateConfig {
  uint32_t maxConcurrent = 0;       // 0 = no limit
  uint64_t maxTokensInFlight = 0;   // 0 = no limit
  uint64_t defaultMaxTokens = 4096; // output counted for a request that sets no max_tokens
  uint32_t maxQueued = 1024;        // waiters beyond it are refused at once (503)
  Millis maxWait{30'000};           // a waiter not served by then is refused (503)
  bool enabled() const { return maxConcurrent > 0 || maxTokensInFlight > 0; }
  bool operator==(const UpstreamGateConfig&) const = default;
};

struct UpstreamConfig {
  std::string name;
  std::string url;  // as written
  bool https = false;
  std::string host;  // without brackets
  uint16_t port = 0;
  std::string basePath;  // "" or "/prefix" without trailing slash
  UpstreamTls tls;
  Millis connectTimeout{5'000};
  Millis firstByteTimeout{300'000};
  Millis idleTimeout{300'000};
  unsigned poolMaxIdle = 64;
  Millis poolIdleTimeout{60'000};
  std::vector<std::string> removeHeaders;
  std::vector<HeaderOp> setHeaders;
  std::vector<HeaderOp> addHeaders;
  std::optional<CircuitBreakerConfig> circuitBreaker;
  UpstreamGateConfig gate;  // max_concurrent, max_tokens_in_flight, queue

  // "host:port" for the Host header: the port is omitted when it is the scheme's default.
  std::string authority() const;
};

enum class Dialect { OpenAI, Anthropic, Gemini };

// Key-auth on a route (consumers and key sources are in the `rate_limits:` section):
//   Off       the gateway does not look at keys; everything is forwarded as sent.
//   Optional  a key that belongs to a consumer authenticates it (and is not forwarded); a
//             missing or unknown key is served anonymously and forwarded as sent (pass-through
//             of a provider key).
//   Required  a missing or unknown key gets 401 in the route's dialect.
enum class KeyAuth { Off, Optional, Required };
const char* dialectName(Dialect d);

struct RouteConfig {
  std::string name;
  std::string matchHost;  // "" any, "a.b" exact, "*.b" suffix
  std::string pathPrefix = "/";
  std::string upstream;      // name
  size_t upstreamIndex = 0;  // resolved by validate()
  std::optional<std::string> rewritePrefix;
  Dialect dialect = Dialect::OpenAI;
  // OpenAI-style streams whose client did not ask for usage: ask the upstream for it
  // (stream_options.include_usage) and strip the extra chunk from the client's stream.
  bool injectIncludeUsage = true;
  KeyAuth keyAuth = KeyAuth::Optional;
  // Tried instead of `upstream` when its circuit is open, or when it failed or answered 429
  // or 5xx before any byte reached the client. "" = none.
  std::string fallbackUpstream;
  std::optional<size_t> fallbackIndex;  // resolved by validate()
};

// Where rate-limit buckets live (the `store:` section; docs/ratelimiting.md, docs/redis.md).
struct RedisStoreConfig {
  std::vector<std::string> addresses;  // "host:port": the server, or cluster seeds
  bool cluster = false;
  std::string username;  // ACL user (Redis 6+); empty = AUTH <password>
  std::string password;  // empty = no AUTH
  uint32_t database = 0;
  bool tls = false;
  std::string caFile;  // empty = system CAs
  bool tlsVerify = true;
  std::string serverName;  // empty = the host
  Millis connectTimeout{1000};
  Millis timeout{1000};  // per command: the most a request waits for Redis
  std::string keyPrefix = "tg:";
  // Leases (store/leased_store.h, docs/redis.md): each worker admits from slices of a bucket's
  // budget reserved in Redis. `lease: exact` = one Redis reserve per request.
  struct Lease {
    bool enabled = true;
    Millis ttl{1000};
    double maxShare = 1.0 / 16;  // of a bucket's limit, per lease
    uint64_t minLimit = 64;      // smaller limits are reserved exactly
  } lease;
};

struct StoreConfig {
  enum class Type { Memory, Redis };
  Type type = Type::Memory;
  // A `store:` section was written. Without one, a Higress config's `redis` block selects
  // Redis (as in Higress).
  bool configured = false;
  uint64_t maxBuckets = 1 << 20;  // in-memory buckets (the store, or Redis's local fallback)
  RedisStoreConfig redis;
};

// `admin:` the admin API's listener (admin/server.h, docs/admin.md). The listener runs only when
// the section is present and `enabled` is not false.
struct AdminConfig {
  bool enabled = false;  // true when an `admin:` section was written (unless enabled: false)
  std::string listen = "127.0.0.1:9901";
  std::string host = "127.0.0.1";  // parsed from listen
  uint16_t port = 9901;
  // Bearer token: plain, or "sha256:<hex>" of it. "" = no auth, allowed on loopback only.
  std::string token;
};

// `quota:` per-consumer token quotas like Higress's ai-quota (store/quota.h, docs/admin.md).
struct QuotaConfig {
  bool enabled = false;
  std::vector<std::string> routes;  // route names where quotas are enforced; empty = every route
  bool failClosed = false;  // `failure_mode: closed`: 503 when the quota store cannot answer
};

struct TokenizerConfig {
  std::string dataDir;  // "" = $TOKENGATE_DATA_DIR, else <binary dir>/data
};

struct Config {
  ServerConfig server;
  std::vector<ListenerConfig> listeners;
  LimitsConfig limits;
  std::vector<UpstreamConfig> upstreams;
  std::vector<RouteConfig> routes;
  TokenizerConfig tokenizer;
  StoreConfig store;
  AdminConfig admin;
  QuotaConfig quota;
};

// Splits "host:port" / "[v6]:port" into parts; false when malformed.
bool parseHostPort(const std::string& s, std::string& host, uint16_t& port);
// Parses an upstream base URL into u.https/host/port/basePath; returns an error text or "".
std::string parseUpstreamUrl(const std::string& url, UpstreamConfig& u);

}  // namespace tg::config
