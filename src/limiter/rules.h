#pragma once
// The pure matcher: (PolicySet, request facts, wall time) -> the buckets a request must reserve,
// as store::BucketSpecs plus what each counts and why it was chosen (for the amounts, the logs
// and the x-ratelimit-* headers). No I/O, no clock reads, no allocation beyond the output and
// the key strings; safe to call from any thread on a shared const PolicySet.
//
// Matching (every policy whose `routes` include the request's route, in config order):
//   * each rule of the policy is evaluated independently and EVERY matching rule contributes
//     its buckets (Higress since PR #4011: all matching rule_items plus global_threshold);
//   * within a rule, the selector's runtime value is read (missing -> the rule's fallback
//     bucket if it has one, else the rule is skipped, as in Higress);
//   * the rule's key entries are scanned in order and the FIRST matching one wins, except for
//     client-IP rules with longestPrefix (native), where the most specific entry wins;
//   * no matching entry -> the rule is skipped (no fallback: the value exists, it is just not
//     listed);
//   * the limits are resolved (schedule > tier > key entry > rule, see policy.h) and each
//     becomes one bucket.
// Output order: policies, rules, limits in config order (Higress: global first, then items),
// so ReserveResult::decisiveIndex names the first triggered rule as Higress does.
//
// Bucket keys (stable across restarts and config reorders, collision-free by construction):
//   tg1:<policy>:<rule>:<quantity>:<window ms>:<value part>    ("tg1h:" for Higress policies)
// value part: "g" (global), "f" (fallback), "o" (per_ overflow past max_keys),
// "v" + value (per_ value, or the literal of an exact entry), "k" + kind + entry text (a shared
// non-exact entry: "*", regexp or CIDR). Policy, rule and value are percent-encoded (every byte
// outside [A-Za-z0-9._~@/+=*-] becomes %XX) so ':' cannot forge a boundary; a value longer
// than 64 bytes is replaced by "#" + the first 128 bits of its SHA-256 in hex. The limit is
// not part of the key (a threshold edit, a tier change or peak hours keep the counters).

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/thread_annotations.h"
#include "limiter/policy.h"
#include "store/bucket.h"

namespace tg::limiter {

// What the matcher knows about a request. Views must outlive the match call.
struct RequestFacts {
  const Consumer* consumer = nullptr;  // authenticated consumer, nullptr when none
  std::string_view apiKeyId;           // ApiKey::id of the presented key, "" when none
  // Header lookup by lower-case name: first value, nullopt when absent. May be empty.
  std::function<std::optional<std::string_view>(std::string_view lowerName)> header;
  std::string_view query;     // raw query string, without '?'
  std::string_view cookies;   // raw Cookie header value ("a=1; b=2")
  std::string_view clientIp;  // normalised client IP (clientIpFrom below), "" when unknown
  std::string_view model;     // requested model, "" when unknown
  std::string_view route;     // route name
};

struct MatchedBucket {
  store::BucketSpec spec;  // key, algorithm, limit, window (Concurrent: lease), penalty
  Quantity quantity = Quantity::TotalTokens;
  AmountKind kind = AmountKind::Tokens;
  uint32_t policyIndex = 0;  // into PolicySet::policies
  uint32_t ruleIndex = 0;    // into Policy::rules
  // Log/header form of the selector value: "" (global), "<fallback>", "<overflow>", the value
  // itself, or "#<hash>" when it was hashed. Never a secret (api keys appear as their id).
  std::string value;
  bool fallback = false;  // counted in the rule's fallback bucket (value missing)
  bool overflow = false;  // per_ value past max_keys: counted in the shared overflow bucket
  bool shadow = false;    // decide and record, never reject
  store::ReserveMode reserveMode = store::ReserveMode::Reserve;  // CheckOnly for Higress mode
};

// Keeps, for each per_ rule with max_keys, the set of distinct values seen in the current
// period (the rule's longest window, aligned to the epoch); past the cap, new values are sent to
// the overflow bucket. Memory is bounded by the caps. Thread-safe (one mutex; TODO: shard it
// if it ever shows in profiles, it is only touched by capped per_ rules).
class DistinctKeyCap {
 public:
  // True when `value` may have its own bucket in rule `scope`.
  bool admit(std::string_view scope, std::string_view value, uint64_t cap, Millis period,
             store::TimePoint now);

 private:
  struct Scope {
    int64_t generation = -1;
    std::unordered_set<uint64_t> seen;
  };
  core::Mutex mu_;
  std::unordered_map<std::string, Scope> scopes_ TG_GUARDED_BY(mu_);
};

// Appends the buckets of `facts` to `out` (cleared first). `now` is the wall time, used only
// for schedules. `cap` enforces Rule::maxKeys; nullptr = no cap.
void matchInto(const PolicySet& set, const RequestFacts& facts, store::TimePoint now,
               std::vector<MatchedBucket>& out, DistinctKeyCap* cap = nullptr);
std::vector<MatchedBucket> match(const PolicySet& set, const RequestFacts& facts,
                                 store::TimePoint now, DistinctKeyCap* cap = nullptr);

// The limits in force for `rule` of `policy` at `now` for this consumer (schedule > tier >
// entry > rule). Exposed for tests and the `tokengate check` report.
const std::vector<Limit>& resolveLimits(const Policy& policy, const Rule& rule,
                                        const KeyEntry* entry, const Consumer* consumer,
                                        store::TimePoint now);

// Fills Limit::keyPrefix of every limit of every rule (rule, key entries, tiers, schedules,
// fallback), so matching appends only the value part. Called by limiter::compile; a PolicySet
// built by hand works without it (the prefix is then built per request).
void precomputeKeyPrefixes(PolicySet& set);

// The value part of a bucket key for a raw value ("v..." or "v#<hash>"), see above.
std::string encodeKeyPart(std::string_view raw);

// ---- helpers for the request path ---------------------------------------------------------

// First value of query parameter `name` in `query`, URL-decoded ('+' is a space). `strict`
// (Higress, Go url.ParseQuery): any malformed escape anywhere, or a ';' separator, makes the
// whole query unparsable -> nullopt. Non-strict: malformed pairs are skipped.
std::optional<std::string> queryParam(std::string_view query, std::string_view name, bool strict);

// Cookie `name` from a Cookie header: split on ';', trim, split once on '='; segments without
// '=' are skipped (Higress #4091). First occurrence wins.
std::optional<std::string_view> cookieValue(std::string_view cookieHeader, std::string_view name);

// Client IP. `peer`: the socket's remote address (no port; "[v6]" accepted). `xff`: the
// X-Forwarded-For value (several headers joined with ","), "" when absent. `trustedProxies`:
// how many proxies in front of the gateway append to X-Forwarded-For; 0 = use the peer. With
// N > 0 the client is the N-th entry from the right (the one the outermost trusted proxy
// saw). When XFF has fewer than N entries or that entry is not an IP, the peer is used (a
// client cannot pick its own IP by sending a short or forged header). IPv4-mapped IPv6 is
// normalised to IPv4.
std::optional<IpAddress> clientIpFrom(std::string_view peer, std::string_view xff,
                                      unsigned trustedProxies);

// SHA-256 of `data` (OpenSSL).
std::array<uint8_t, 32> sha256Of(std::string_view data);

// The key a client presented, from the first source that has one: Authorization "Bearer <k>"
// (scheme case-insensitive), x-api-key, a configured header (whole value) or query parameter.
// Empty sources default to {AuthorizationBearer, XApiKey}. `source`, when given, receives the
// source the key came from (so the request path can remove it before forwarding).
std::optional<std::string> presentedKey(
    const std::vector<KeySource>& sources,
    const std::function<std::optional<std::string_view>(std::string_view lowerName)>& header,
    std::string_view query, KeySource* source = nullptr);

struct KeyAuthMatch {
  const Consumer* consumer = nullptr;
  const ApiKey* key = nullptr;
};
// The consumer owning `presented`, comparing SHA-256 digests with CRYPTO_memcmp (constant time
// for every configured key, plain or hashed: plain keys are hashed at load). nullopt when
// unknown or empty.
std::optional<KeyAuthMatch> findConsumerByKey(const std::vector<Consumer>& consumers,
                                              std::string_view presented);

}  // namespace tg::limiter
