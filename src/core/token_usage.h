#pragma once
// TokenUsage: the one record of what a request consumed, from the response's usage figures to
// settlement, metrics and the access log. usage/ fills it (provider-reported, or estimated from
// the relayed text), limiter/ settles it, metrics/ counts it; nobody converts it.
// Normalisation (docs: reference wire-formats §1.7): input includes cached and cache-write
// input; output includes reasoning.

#include <cstdint>

namespace tg::core {

struct TokenUsage {
  uint64_t inputTokens = 0;  // total input, cached included
  uint64_t cachedInputTokens = 0;
  uint64_t cacheWriteInputTokens = 0;
  uint64_t outputTokens = 0;  // total output, reasoning included
  uint64_t reasoningTokens = 0;
  uint64_t totalTokens = 0;
  bool reported = false;   // at least one figure came from the provider
  bool estimated = false;  // at least one figure is the gateway's estimate

  uint64_t billed() const { return inputTokens + outputTokens; }
  bool operator==(const TokenUsage&) const = default;
};

}  // namespace tg::core
