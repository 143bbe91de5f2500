#pragma once
// Rate-limit response headers, as pure functions from a bucket's state (store::BucketState) to
// "Name: value\r\n" lines appended to a caller's buffer (no allocation beyond its growth).
//
// On every response that passed a limit (2xx and 429), for the bucket that constrains the
// caller most (mostConstrained):
//   x-ratelimit-limit-tokens: 100000
//   x-ratelimit-remaining-tokens: 99000       never negative (a bucket in debt shows 0)
//   x-ratelimit-reset-tokens: 6m0s            until back to the initial state, Go duration
// (OpenAI's names; "tokens" is the unit argument, "requests" for request-count buckets.)
//
// On a 429 (retryable: over limit, or blocked by a penalty):
//   retry-after: 7                          seconds, rounded UP (never retry too early)
//   retry-after-ms: 6123                    only when the wait is <= 60 s
//   x-should-retry: false                   only when the wait is > 60 s
//   X-TokenRateLimit-Reset: 7               Higress's header, seconds, rounded up
// On a 429 that no retry can fix (request larger than the whole limit):
//   x-should-retry: false                   and no retry-after
//
// Why (wire-formats.md §1.8, peers.md §7): the openai and anthropic SDKs honour
// retry-after-ms, then retry-after, only when 0 < wait <= 60 s, and otherwise back off 0.5-8 s
// twice and fail; openai-python stops retrying above 120 s; `x-should-retry: false` overrides
// them. So a wait an SDK would honour is given to the millisecond, and a longer one (hourly
// or daily windows) tells the SDK not to burn its retries. Decision: retry-after keeps the
// TRUE wait even above 60 s (RFC 9110 semantics for non-SDK clients; SDKs are stopped by
// x-should-retry anyway) instead of a capped value that would make generic clients retry
// into another 429.
//
// An unknown wait (a Concurrency bucket: it frees when another request ends) is sent as 1 s.
//
// Reset durations use Go's time.Duration.String() at millisecond resolution, as OpenAI does
// and as clients parse it (go-openai uses time.ParseDuration): "0s", "20ms", "1s", "1.5s",
// "6m0s", "1h2m3s", "1h0m0s".

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "store/bucket.h"

namespace tg::limiter {

inline constexpr std::chrono::milliseconds kMaxSdkRetryWait{60'000};
inline constexpr std::chrono::milliseconds kUnknownRetryWait{1'000};

// Go duration text of d (negative taken as 0), appended to out / returned.
void appendGoDuration(std::chrono::milliseconds d, std::string& out);
std::string formatGoDuration(std::chrono::milliseconds d);

// x-ratelimit-limit-<unit>, x-ratelimit-remaining-<unit>, x-ratelimit-reset-<unit>.
void appendQuotaHeaders(const store::BucketState& state, std::string_view unit, std::string& out);

// The retry headers' values for a rejection (unset = header not sent).
struct RetryHeaderValues {
  std::optional<uint64_t> retryAfterSeconds;    // retry-after
  std::optional<uint64_t> retryAfterMs;         // retry-after-ms
  bool shouldRetryFalse = false;                // x-should-retry: false
  std::optional<uint64_t> higressResetSeconds;  // X-TokenRateLimit-Reset
};

// `retryIn`: ReserveResult::retryIn (0 = unknown); `retryable`: false for Verdict::TooLarge.
RetryHeaderValues retryHeaderValues(std::chrono::milliseconds retryIn, bool retryable);
void appendRetryHeaders(std::chrono::milliseconds retryIn, bool retryable, std::string& out);

// Index of the bucket the x-ratelimit-* headers should describe: on a rejection, the rejecting
// bucket (OverLimit/Blocked) with the longest retryIn (the one the caller waits for); otherwise
// the one with the least remaining, ties to the longer resetIn. nullopt when empty. Callers
// pass the states of one unit only (token buckets, or request-count buckets).
std::optional<size_t> mostConstrained(std::span<const store::BucketState> states);

}  // namespace tg::limiter
