#pragma once
// The `rate_limits:` section as plain data, exactly as the YAML says it (schema documented key
// by key in examples/limits.yaml). Read by config/ (read_rate_limits.cc), which checks the
// shape: types, ranges, known keys and keywords, durations, one quantity per limit. What the
// values MEAN (regexes, CIDRs, time zones, key digests, duplicates, which selector needs which
// key) is checked by limiter::compile (limiter/compile.h), which turns these structs into a
// limiter::PolicySet and reports with the Marks carried here. Unset optionals take the
// limiter's defaults (limiter/policy.h).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/error.h"

namespace tg::config {

// A scalar with where it was written, for values a later step may reject.
struct MarkedString {
  std::string value;
  Mark mark;
};

// One limit: `{tokens: 100000, per: minute}`.
struct LimitConfig {
  // total_tokens (also written `tokens`), input_tokens, output_tokens, weighted_tokens,
  // requests or concurrent.
  std::string quantity;
  uint64_t amount = 0;
  std::chrono::milliseconds per{0};  // 0 for concurrent (no window)
};

using LimitTiers = std::vector<std::pair<std::string, std::vector<LimitConfig>>>;

struct ScheduleConfig {
  uint8_t weekdays = 0x7f;  // bit d = weekday d (0 = Sunday); `days:` absent = every day
  int startMinute = 0;      // `from:` HH:MM as minutes of the day
  int endMinute = 24 * 60;  // `to:`
  std::vector<LimitConfig> limits;
  LimitTiers tiers;
};

struct KeyEntryConfig {
  MarkedString key;  // as written: exact value, "*", "regexp:...", or an IP / CIDR
  std::vector<LimitConfig> limits;
};

struct RuleConfig {
  Mark mark;  // the rule item
  std::string name;
  MarkedString by;  // global, consumer, per_consumer, ... (mark: the rule when absent)
  std::string header, param, cookie;
  std::vector<KeyEntryConfig> keys;
  std::vector<LimitConfig> limits;
  LimitTiers tiers;
  std::vector<ScheduleConfig> schedules;
  std::vector<LimitConfig> fallback;
  uint64_t maxKeys = 0;  // 0 = not set
  std::optional<std::chrono::milliseconds> penalty;
  std::optional<bool> shadow;
};

struct WeightsConfig {
  std::optional<double> input, cachedInput, output;
};

struct PolicyConfig {
  Mark mark;  // the policy item
  std::string name;
  std::vector<std::string> routes;
  Mark routesMark;                          // the `routes:` value
  std::optional<MarkedString> algorithm;    // fixed_window | sliding_window | token_bucket
  std::optional<MarkedString> mode;         // strict | higress_compatible
  std::optional<MarkedString> reservation;  // none | prompt | prompt_plus_max
  std::optional<uint64_t> defaultMaxTokens;
  WeightsConfig weights;
  std::optional<MarkedString> timeZone;  // IANA name or fixed UTC offset
  std::optional<std::string> tierLabel;
  std::optional<std::chrono::milliseconds> penalty;
  std::optional<bool> shadow;
  std::optional<std::chrono::milliseconds> concurrencyLease;
  std::optional<uint32_t> rejectedCode;  // 200-599
  std::optional<std::string> rejectedMsg;
  std::optional<MarkedString> storeFailure;  // open | closed | local
  std::optional<MarkedString> lease;         // leased | exact (Redis store)
  std::optional<MarkedString> enforce;       // admission | stream
  std::optional<bool> clampMaxTokens;
  std::optional<MarkedString> onLimit;       // reject | queue
  std::optional<std::chrono::milliseconds> maxWait;  // on_limit: queue
  std::optional<uint64_t> maxQueued;                 // on_limit: queue
  std::vector<std::pair<std::string, double>> priority;  // tier label value -> queue weight
  Mark priorityMark;
  std::optional<double> localShare;          // (0, 1]
  std::vector<RuleConfig> rules;
};

struct ConsumerConfig {
  Mark mark;  // the consumer item
  std::string name;
  std::vector<MarkedString> keys;  // plain text, or "sha256:<64 hex>"
  std::vector<std::pair<std::string, std::string>> labels;
};

struct KeySourceConfig {
  enum class Kind { AuthorizationBearer, XApiKey, Header, QueryParam };
  Kind kind = Kind::AuthorizationBearer;
  std::string name;  // Header / QueryParam, as written
};

struct RateLimitsConfig {
  std::vector<KeySourceConfig> keySources;  // empty = the limiter's default
  std::vector<ConsumerConfig> consumers;
  std::vector<PolicyConfig> policies;
};

}  // namespace tg::config
