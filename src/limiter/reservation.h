#pragma once
// Admission arithmetic of the limiter, pure and allocation-free: how many tokens a request
// reserves, whether it can ever fit, and what to settle afterwards. DESIGN.md "Limits: what
// and when": admission reserves `estimated prompt + output reservation`; settlement adds
// `actual - reserved`, which may push a bucket into debt.
//
// Overshoot (what a store admits beyond a limit) is bounded by what in-flight requests use
// beyond their reservation; with PromptPlusMax it is zero unless the prompt estimate was low
// (output cannot exceed max_tokens). With None it is Higress-like: up to one request's usage per
// concurrent request. The limiter's config picks the mode per policy.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "store/bucket.h"

namespace tg::limiter {

enum class ReservationMode : uint8_t {
  None,           // reserve 0: admit while the bucket has budget left, charge at settle
  PromptOnly,     // reserve the prompt estimate; output is charged at settle
  PromptPlusMax,  // prompt + max_tokens (or defaultMaxTokens when the request sets none)
};

// Tokens a token bucket reserves for one request. Saturates at INT64_MAX (store amounts are
// int64). `maxTokens` is the request's output cap (max_tokens, max_completion_tokens,
// max_output_tokens), if any.
uint64_t reservationFor(uint64_t promptEstimate, std::optional<uint64_t> maxTokens,
                        ReservationMode mode, uint64_t defaultMaxTokens);

// The "request larger than the whole limit" check: index of the first bucket that can never
// admit its amount in Reserve mode (amount > limit, or limit 0), whatever its usage; such a
// request is rejected at once with a NON-retryable error (OpenAI: "Request too large ...").
// Same rule as the store's Verdict::TooLarge (store/algorithm.h neverFits), checked before any
// store round trip. Not meaningful in CheckOnly mode, which admits whatever the amount.
std::optional<size_t> findTooLarge(std::span<const store::BucketSpec> buckets,
                                   std::span<const int64_t> amounts);

// The delta to settle for one bucket once the real amount is known: actual - charged, except
// that a Concurrency bucket releases what it took (-charged) whatever `actual` is. For a
// CheckOnly reservation (charged == 0) the delta is the whole actual amount.
int64_t settlementDelta(const store::Reservation& reservation, int64_t actual);

}  // namespace tg::limiter
