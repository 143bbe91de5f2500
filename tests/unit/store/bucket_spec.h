#pragma once
// What the store tests share: a bucket spec in one call, and the start time they step from.
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "store/bucket.h"

namespace tg::store::test {

// A minute (and 10 s) boundary on the epoch, in milliseconds.
inline constexpr int64_t kT0Ms = 28'333'334LL * 60'000;

inline BucketSpec spec(std::string key, Algorithm a, uint64_t limit,
                       std::chrono::milliseconds window = std::chrono::milliseconds(60'000),
                       std::chrono::milliseconds penalty = std::chrono::milliseconds(0)) {
  BucketSpec s;
  s.key = std::move(key);
  s.algorithm = a;
  s.limit = limit;
  s.window = window;
  s.penalty = penalty;
  return s;
}

}  // namespace tg::store::test
