#pragma once
// The native limits configuration as plain data, already compiled (regexes built, IPs parsed,
// durations resolved): consumers and their keys, where keys are read from, and policies made of
// rules. Compiled by limiter/compile.h from the plain config structs config/ reads from YAML
// (native `rate_limits:` sections and Higress `ai-token-ratelimit` blocks, which
// limiter/higress.h converts into the same structs) and read
// by limiter/rules.h, which turns a request's facts into store::BucketSpecs. Nothing here does
// I/O or reads a clock; a PolicySet is immutable once built and may be shared across threads
// (std::shared_ptr<const PolicySet>).
//
// Vocabulary:
//   Policy    a named group of rules with shared behaviour: algorithm, mode (strict reserve or
//             Higress-compatible check-then-charge), reservation sizing, token weights, time
//             zone for schedules, penalty, shadow, rejection code/message.
//   Rule      ONE selector (global, consumer, api key, header, query param, cookie, client IP,
//             model) + key entries (which values match, each with optional own limits) + limits.
//             A `per` rule keeps one counter per distinct runtime value; a non-per rule keeps
//             one counter per matching key entry (Higress semantics: exact values only for
//             header/param/cookie/consumer; the native mode also allows `*`, regexp: and CIDR
//             entries, which then share one counter per entry).
//   Limit     one bucket: what is counted (tokens of some kind, requests, requests in flight),
//             how many, per which window.
//   Tier      limits picked by a consumer label (policy.tierLabel, default "tier").
//   Schedule  limits that replace the others during weekday/time-of-day ranges (peak hours).
//
// Limit resolution for a matched rule (first non-empty wins):
//   active schedule's tier limits > active schedule's limits > rule tier limits >
//   key entry limits > rule limits.
// Bucket identity (limiter/rules.h) does not include the limit, tier or schedule, so moving
// into peak hours or changing tier keeps the counters and only changes the threshold.
//
// Time zones: a policy's schedules are evaluated in Policy::timeZone, an IANA zone
// ("Europe/Berlin", "America/New_York") read from the system tz database at config load, or a
// fixed UTC offset ("+08:00", "-05:30", "UTC", "Z"). The local weekday and minute of day use
// the zone's offset AT the request's instant, so daylight saving moves the peak hours with the
// wall clock. libstdc++ 12 has no std::chrono::locate_zone, so limiter/timezone.h reads the
// TZif files itself (why, and the format, in its header).

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/token_usage.h"
#include "limiter/reservation.h"
#include "store/bucket.h"

namespace re2 {
class RE2;
}

namespace tg::limiter {
class TimeZone;  // limiter/timezone.h
}

namespace tg::limiter {

using Millis = std::chrono::milliseconds;

// ---- IP addresses -------------------------------------------------------------------------

// An IPv4 or IPv6 address in network byte order. IPv4 uses bytes [0, 4).
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// Parses "a.b.c.d", "v6", "[v6]", with IPv4-mapped IPv6 (::ffff:a.b.c.d) normalised to IPv4.
// A zone suffix ("%eth0") is rejected. nullopt on anything else.
std::optional<IpAddress> parseIp(std::string_view text);
// Canonical text: dotted quad, or RFC 5952 IPv6 (inet_ntop).
std::string formatIp(const IpAddress& ip);

struct IpPrefix {
  IpAddress base;  // masked to `bits`
  uint8_t bits = 0;
  bool contains(const IpAddress& ip) const;
};
// "10.0.0.0/8", "2001:db8::/32", or a bare address (= /32 or /128). An IPv4-mapped IPv6
// prefix with bits >= 96 becomes the IPv4 prefix. nullopt on a bad address or length.
std::optional<IpPrefix> parseIpPrefix(std::string_view text);

// ---- Consumers and key sources ------------------------------------------------------------

// A consumer key as configured: plain text or a SHA-256 digest ("sha256:<64 hex>"). Only the
// digest is kept (plain keys are hashed at load), so the lookup compares digests in constant
// time and a dump of the PolicySet reveals no key.
struct ApiKey {
  bool hashed = false;               // configured as "sha256:..."
  std::array<uint8_t, 32> sha256{};  // digest of the key
  // Stable, non-secret identifier for logs and bucket keys: "<consumer>#<index>".
  std::string id;
};

struct Consumer {
  std::string name;
  std::vector<ApiKey> keys;
  std::vector<std::pair<std::string, std::string>> labels;  // e.g. {"tier", "gold"}
  // Value of label `name`, or nullopt.
  std::optional<std::string_view> label(std::string_view name) const;
};

struct KeySource {
  enum class Kind : uint8_t { AuthorizationBearer, XApiKey, Header, QueryParam };
  Kind kind = Kind::AuthorizationBearer;
  std::string name;  // Header / QueryParam: the header (lower case) or parameter name
};

// ---- Limits -------------------------------------------------------------------------------

// What a bucket counts. The token kinds are turned into an amount by tokenAmount() below.
enum class Quantity : uint8_t {
  TotalTokens,     // input + output (Higress's token_per_*)
  InputTokens,     // prompt, cached included
  OutputTokens,    // completion, reasoning included
  WeightedTokens,  // TokenWeights applied
  Requests,        // 1 per request (RPM and friends)
  Concurrent,      // requests in flight (store::Algorithm::Concurrency)
};
std::string_view quantityName(Quantity q);  // "total_tokens", "requests", ...

// Which amount the caller reserves for a bucket.
enum class AmountKind : uint8_t { Tokens, Requests, Concurrency };
AmountKind amountKindOf(Quantity q);

// Multipliers for WeightedTokens: weighted = input*input + cachedInput*cachedInput +
// output*output (cachedInput is the part of the prompt served from cache, counted ONLY by
// the cachedInput weight; reasoning is part of output).
struct TokenWeights {
  double input = 1.0;
  double cachedInput = 1.0;
  double output = 1.0;
};

// Amount of `q` for these counts (Requests: 1; Concurrent: 1). Rounded up, saturating.
int64_t tokenAmount(Quantity q, const core::TokenUsage& counts, const TokenWeights& weights);

struct Limit {
  Quantity quantity = Quantity::TotalTokens;
  uint64_t limit = 0;
  Millis window{60'000};  // Concurrent: lease (see store/bucket.h)
  // The bucket-key prefix of this limit in its rule ("tg1:<policy>:<rule>:<quantity>:<window>:",
  // limiter/rules.h), computed once at load by precomputeKeyPrefixes so the request path only
  // appends the value. Empty = built per request. Not part of the limit's identity.
  std::string keyPrefix;
  friend bool operator==(const Limit& a, const Limit& b) {
    return a.quantity == b.quantity && a.limit == b.limit && a.window == b.window;
  }
};

// ---- Selectors and key entries ------------------------------------------------------------

enum class SelectorKind : uint8_t {
  Global,    // always matches, value ""
  Consumer,  // authenticated consumer name (Higress: x-mse-consumer, set only by key-auth)
  ApiKey,    // the presented key's id (ApiKey::id), never the secret
  Header,    // request header `name` (first value)
  Param,     // query parameter `name` (first value, URL-decoded)
  Cookie,    // cookie `name`
  ClientIp,  // client IP: from the connection/XFF (native), or Higress from-header-<h>
  Model,     // requested model
};
std::string_view selectorName(SelectorKind k);  // "global", "consumer", "api_key", ...

struct KeyPattern {
  enum class Kind : uint8_t { Exact, Any, Regexp, Cidr };
  Kind kind = Kind::Exact;
  std::string text;                            // as configured (Regexp: without "regexp:")
  std::shared_ptr<const re2::RE2> re;          // Regexp: compiled RE2, unanchored search
  IpPrefix prefix;                             // Cidr
  bool matches(std::string_view value) const;  // Exact / Any / Regexp
  bool matchesIp(const IpAddress& ip) const;   // Cidr (Exact: equal address)
};

// The key forms native and Higress configs share: "*" -> Any, "regexp:<re>" -> Regexp with
// `re` compiled (RE2 errors are not logged; `error` gets RE2's message when it does not
// compile). False, with `out` unchanged, for any other text.
bool wildcardPattern(const std::string& key, KeyPattern& out, std::string& error);

struct KeyEntry {
  KeyPattern pattern;
  std::vector<Limit> limits;  // empty: the rule's limits
};

struct Schedule {
  uint8_t weekdays = 0x7f;  // bit d = weekday d (0 = Sunday .. 6 = Saturday), local time
  int startMinute = 0;      // [start, end) in minutes of the local day; start > end wraps
  int endMinute = 24 * 60;  // past midnight (22:00-06:00)
  std::vector<Limit> limits;
  std::vector<std::pair<std::string, std::vector<Limit>>> tiers;
  // Whether local (weekday 0 = Sunday, minute of day) is inside this schedule. A wrapping
  // range belongs to the weekday it starts on (Fri 22:00-06:00 covers Saturday 03:00).
  bool activeAt(int weekday, int minuteOfDay) const;
};

struct Rule {
  std::string name;  // unique within the policy; part of bucket keys
  SelectorKind selector = SelectorKind::Global;
  std::string selectorName;  // Header/Param/Cookie: the name; Higress per_ip: "from-header-x"
  bool perValue = false;     // `per_`: one counter per distinct value
  // Higress `limit_by_per_ip: from-header-<h>`: read the IP from this header's first element
  // instead of RequestFacts::clientIp. Empty = use clientIp.
  std::string ipHeader;
  // ClientIp with CIDR entries: true = longest prefix wins (native); false = first listed
  // entry that contains the IP wins (Higress).
  bool longestPrefix = true;
  std::vector<KeyEntry> keys;  // empty: every value matches (as one "*" entry)
  std::vector<Limit> limits;
  std::vector<std::pair<std::string, std::vector<Limit>>> tiers;  // label value -> limits
  std::vector<Schedule> schedules;                                // first active wins
  // When the selector's value is missing (no header, no consumer, unparsable IP, ...): with a
  // fallback, the request is counted in ONE shared bucket with these limits instead of being
  // unlimited (Higress: skipped). Empty = skip.
  std::vector<Limit> fallback;
  // per_ rules: at most this many distinct values get their own bucket; further values share
  // one overflow bucket (limits unchanged), so clients cannot mint unlimited buckets. 0 = no
  // cap. Enforced by DistinctKeyCap (limiter/rules.h).
  uint64_t maxKeys = 0;
  std::optional<Millis> penalty;  // overrides Policy::penalty
  std::optional<bool> shadow;     // overrides Policy::shadow
};

// ---- Policies -----------------------------------------------------------------------------

enum class PolicyMode : uint8_t {
  Strict,             // store::ReserveMode::Reserve with the policy's reservation
  HigressCompatible,  // store::ReserveMode::CheckOnly, reservation None, charge after
};

// Higress's redis block, kept as data (used by the Redis store; reported with the embedded
// one).
struct RedisSettings {
  std::string serviceName;
  uint32_t servicePort = 6379;  // 80 when serviceName ends in ".static"
  std::string username;
  std::string password;
  Millis timeout{1000};  // 0 is read as 1000 (Higress)
  uint32_t database = 0;
};

// What admission does when the store cannot decide (Redis down or timing out, MemoryStore
// full): Open admits (and counts the event), Closed rejects with 503, Local reserves in the
// gateway's own in-memory store instead, with each bucket's limit scaled by Policy::localShare
// (the share of the cluster-wide limit one instance may use while it cannot coordinate).
enum class StoreFailureMode : uint8_t { Open, Closed, Local };

struct Policy {
  std::string name;                 // unique; part of bucket keys (Higress: rule_name)
  std::vector<std::string> routes;  // route names this policy applies to; empty = every route
  store::Algorithm algorithm = store::Algorithm::FixedWindow;
  PolicyMode mode = PolicyMode::Strict;
  ReservationMode reservation = ReservationMode::PromptPlusMax;
  uint64_t defaultMaxTokens = 4096;
  TokenWeights weights;
  // Schedules' time zone (IANA or fixed offset, see the header comment); null = UTC.
  std::shared_ptr<const TimeZone> timeZone;
  std::string tierLabel = "tier";
  Millis penalty{0};
  bool shadow = false;
  Millis concurrencyLease{3'600'000};  // window of Concurrent buckets
  uint32_t rejectedCode = 429;
  std::string rejectedMsg;  // empty = the caller's dialect (OpenAI / Anthropic JSON)
  StoreFailureMode storeFailure = StoreFailureMode::Open;  // Higress: open (it admits)
  double localShare = 1.0;  // Local mode: fraction of each limit this instance enforces
  // `lease: exact`: with a leased Redis store, this policy's buckets are still reserved in
  // Redis per request (store::BucketSpec::exact).
  bool exactLease = false;
  // `enforce: stream`: the policy's token buckets follow a streamed response as it is relayed
  // (Admission::topUp) and the stream is ended in the caller's dialect when they run out.
  bool enforceStream = false;
  // `clamp_max_tokens: true`: an admitted request's output cap (max_tokens and its kin) is
  // lowered to what the policy's token buckets have left for it before it is forwarded
  // (Admission::outputBudget, usage::clampMaxOutputTokens).
  bool clampMaxTokens = false;
  // `on_limit: queue`: a request this policy's buckets refuse waits in the bucket's fair queue
  // (proxy/admission_queue.h) for at most maxWait, behind at most maxQueued others, instead
  // of being answered 429 at once. Its share while waiting is its tier's priority (the
  // consumer's tierLabel value; default 1).
  bool queue = false;
  Millis maxWait{30'000};
  uint64_t maxQueued = 1024;
  std::vector<std::pair<std::string, double>> priorities;
  // The queue weight of `consumer` (null: anonymous): its tier's priority, else 1.
  double priorityOf(const Consumer* consumer) const;
  bool higress = false;     // converted from an ai-token-ratelimit config
  std::optional<RedisSettings> redis;
  std::vector<Rule> rules;
  bool appliesToRoute(std::string_view route) const;
};

struct PolicySet {
  std::vector<Consumer> consumers;
  std::vector<KeySource> keySources;  // default: Authorization Bearer, then x-api-key
  std::vector<Policy> policies;
  bool queueing = false;  // some policy has on_limit: queue
};

}  // namespace tg::limiter
