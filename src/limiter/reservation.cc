#include "limiter/reservation.h"

#include <algorithm>
#include <limits>

#include "store/algorithm.h"

namespace tg::limiter {
namespace {
constexpr uint64_t kMaxAmount = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
}  // namespace

uint64_t reservationFor(uint64_t promptEstimate, std::optional<uint64_t> maxTokens,
                        ReservationMode mode, uint64_t defaultMaxTokens) {
  uint64_t total = 0;
  switch (mode) {
    case ReservationMode::None:
      return 0;
    case ReservationMode::PromptOnly:
      total = promptEstimate;
      break;
    case ReservationMode::PromptPlusMax: {
      uint64_t output = maxTokens.value_or(defaultMaxTokens);
      if (__builtin_add_overflow(promptEstimate, output, &total)) {
        total = kMaxAmount;
      }
      break;
    }
  }
  return std::min(total, kMaxAmount);
}

std::optional<size_t> findTooLarge(std::span<const store::BucketSpec> buckets,
                                   std::span<const int64_t> amounts) {
  for (size_t i = 0; i < buckets.size(); ++i) {
    const int64_t amount = i < amounts.size() ? amounts[i] : 0;
    const store::Params p = store::paramsFor(buckets[i]);
    if (store::neverFits(p, store::needFor(store::ReserveMode::Reserve, p.algorithm, amount))) {
      return i;
    }
  }
  return std::nullopt;
}

int64_t settlementDelta(const store::Reservation& reservation, int64_t actual) {
  if (reservation.bucket.algorithm == store::Algorithm::Concurrency) {
    return -reservation.charged;
  }
  int64_t delta = 0;
  if (__builtin_sub_overflow(actual, reservation.charged, &delta)) {
    return actual < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
  }
  return delta;
}

}  // namespace tg::limiter
