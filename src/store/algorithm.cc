#include "store/algorithm.h"

#include <algorithm>

namespace tg::store {
namespace {

using i128 = __int128;

int64_t saturate(i128 v) {
  if (v > kMaxCount) {
    return kMaxCount;
  }
  if (v < -kMaxCount) {
    return -kMaxCount;
  }
  return static_cast<int64_t>(v);
}

int64_t addSat(int64_t a, int64_t b) { return saturate(static_cast<i128>(a) + b); }

int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) {
    --q;
  }
  return q;
}

// floor(a * b / c) and ceil(a * b / c) for a, b >= 0 and c > 0; 64-bit unless the product
// overflows (the common case never does: counts times milliseconds of one window).
int64_t mulDivFloor(int64_t a, int64_t b, int64_t c) {
  int64_t p;
  if (!__builtin_mul_overflow(a, b, &p)) {
    return p / c;
  }
  return saturate(static_cast<i128>(a) * b / c);
}

int64_t mulDivCeil(int64_t a, int64_t b, int64_t c) {
  int64_t p;
  if (!__builtin_mul_overflow(a, b, &p)) {
    return p / c + (p % c != 0 ? 1 : 0);
  }
  i128 q = static_cast<i128>(a) * b;
  return saturate(q / c + (q % c != 0 ? 1 : 0));
}

// Quota counters use the whole int64 range (as Redis's INCRBY/DECRBY do) and saturate there: a
// consumer deep in debt stays there.
int64_t subQuota(int64_t remaining, int64_t delta) {
  int64_t next = 0;
  if (!__builtin_sub_overflow(remaining, delta, &next)) {
    return next;
  }
  return delta > 0 ? INT64_MIN : INT64_MAX;
}

bool windowed(Algorithm a) { return a == Algorithm::FixedWindow || a == Algorithm::SlidingWindow; }

// Time as the counters see it: never before their stamp.
int64_t effectiveNow(const Counters& c, int64_t nowMs) { return std::max(nowMs, c.stampMs); }

// TokenBucket: milliseconds until balance (current + previous/W) reaches `target` whole tokens.
int64_t tokenWaitMs(const Params& p, const Counters& c, int64_t target) {
  if (c.current >= target) {
    return 0;
  }
  if (p.limit == 0) {
    return kNeverMs;
  }
  // deficit in 1/W token units, refilled at `limit` units per millisecond.
  i128 deficit = static_cast<i128>(target - c.current) * p.windowMs - c.previous;
  i128 wait = (deficit + p.limit - 1) / p.limit;
  return wait > kMaxCount ? kNeverMs : static_cast<int64_t>(wait);
}

}  // namespace

Params paramsFor(const BucketSpec& spec) {
  Params p;
  p.algorithm = spec.algorithm;
  p.limit = static_cast<int64_t>(std::min<uint64_t>(spec.limit, kMaxCount));
  int64_t w = std::clamp<int64_t>(spec.window.count(), 0, kMaxCount);
  p.windowMs = spec.algorithm == Algorithm::Concurrency ? w : std::max<int64_t>(w, 1);
  if (spec.algorithm == Algorithm::Quota) {  // no limit, no window: the key is the identity
    p.limit = 0;
    p.windowMs = 0;
  }
  return p;
}

int64_t toMillis(TimePoint t) {
  return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

int64_t needFor(ReserveMode mode, Algorithm algorithm, int64_t amount) {
  if (algorithm == Algorithm::Quota) {
    return 1;  // admitted while remaining > 0, whatever the amount and the mode
  }
  if (mode == ReserveMode::CheckOnly && algorithm != Algorithm::Concurrency) {
    return 0;
  }
  return std::max<int64_t>(amount, 1);
}

bool chargesIn(ReserveMode mode, Algorithm algorithm) {
  if (algorithm == Algorithm::Quota) {
    return false;  // charged the usage at settle
  }
  return mode == ReserveMode::Reserve || algorithm == Algorithm::Concurrency;
}

bool neverFits(const Params& p, int64_t need) {
  return p.algorithm != Algorithm::Quota && need > p.limit;
}

int64_t windowStartMs(const Params& p, int64_t nowMs) {
  if (!windowed(p.algorithm)) {
    return nowMs;
  }
  return floorDiv(nowMs, p.windowMs) * p.windowMs;
}

Counters freshCounters(const Params& p, int64_t nowMs) {
  Counters c;
  c.stampMs = windowStartMs(p, nowMs);
  if (p.algorithm == Algorithm::TokenBucket) {
    c.current = p.limit;
  }
  return c;
}

void advance(const Params& p, Counters& c, int64_t nowMs) {
  switch (p.algorithm) {
    case Algorithm::FixedWindow:
    case Algorithm::SlidingWindow: {
      int64_t start = windowStartMs(p, effectiveNow(c, nowMs));
      if (start == c.stampMs) {
        return;
      }
      c.previous = (start - c.stampMs == p.windowMs) ? c.current : 0;
      c.current = 0;
      c.stampMs = start;
      return;
    }
    case Algorithm::TokenBucket: {
      if (nowMs <= c.stampMs) {
        return;
      }
      int64_t elapsed = nowMs - c.stampMs;
      c.stampMs = nowMs;
      if (c.current >= p.limit) {  // full (or above a lowered limit): clamp
        c.current = p.limit;
        c.previous = 0;
        return;
      }
      i128 units = static_cast<i128>(elapsed) * p.limit + c.previous;
      i128 balance = c.current + units / p.windowMs;
      if (balance >= p.limit) {
        c.current = p.limit;
        c.previous = 0;
      } else {
        c.current = static_cast<int64_t>(balance);
        c.previous = static_cast<int64_t>(units % p.windowMs);
      }
      return;
    }
    case Algorithm::Concurrency:
    case Algorithm::Quota:
      return;
  }
}

int64_t remaining(const Params& p, const Counters& c, int64_t nowMs) {
  switch (p.algorithm) {
    case Algorithm::FixedWindow:
    case Algorithm::Concurrency:
      return addSat(p.limit, -c.current);
    case Algorithm::SlidingWindow: {
      int64_t elapsed = effectiveNow(c, nowMs) - c.stampMs;
      int64_t weighted = mulDivCeil(c.previous, p.windowMs - elapsed, p.windowMs);
      return saturate(static_cast<i128>(p.limit) - c.current - weighted);
    }
    case Algorithm::TokenBucket:
    case Algorithm::Quota:
      return c.current;
  }
  return 0;
}

void charge(const Params& p, Counters& c, int64_t amount, int64_t nowMs) {
  amount = std::max<int64_t>(amount, 0);
  if (p.algorithm == Algorithm::Quota) {
    c.current = subQuota(c.current, amount);
    return;
  }
  if (p.algorithm == Algorithm::TokenBucket) {
    c.current = addSat(c.current, -amount);
    return;
  }
  c.current = addSat(c.current, amount);
  if (p.algorithm == Algorithm::Concurrency) {
    c.stampMs = std::max(c.stampMs, nowMs);
  }
}

void uncharge(const Params& p, Counters& c, int64_t amount) {
  amount = std::max<int64_t>(amount, 0);
  if (p.algorithm == Algorithm::Quota) {
    c.current = subQuota(c.current, -amount);
  } else if (p.algorithm == Algorithm::TokenBucket) {
    c.current = addSat(c.current, amount);
  } else {
    c.current = addSat(c.current, -amount);
  }
}

void settleInto(const Params& p, Counters& c, int64_t reservedWindowStartMs, int64_t delta,
                int64_t nowMs) {
  if (delta == 0) {
    return;
  }
  switch (p.algorithm) {
    case Algorithm::FixedWindow:
    case Algorithm::SlidingWindow: {
      int64_t* slot = nullptr;
      if (reservedWindowStartMs == c.stampMs) {
        slot = &c.current;
      } else if (p.algorithm == Algorithm::SlidingWindow &&
                 reservedWindowStartMs == c.stampMs - p.windowMs) {
        slot = &c.previous;
      } else if (delta > 0) {
        slot = &c.current;  // the reserved window no longer counts: charge the current one
      } else {
        return;  // a refund to a window that no longer counts would be free budget now
      }
      *slot = std::max<int64_t>(addSat(*slot, delta), 0);
      return;
    }
    case Algorithm::TokenBucket: {
      c.current = addSat(c.current, -delta);
      if (c.current >= p.limit) {
        c.current = p.limit;
        c.previous = 0;
      }
      return;
    }
    case Algorithm::Concurrency:
      c.current = std::max<int64_t>(addSat(c.current, delta), 0);
      c.stampMs = std::max(c.stampMs, nowMs);
      return;
    case Algorithm::Quota:
      c.current = subQuota(c.current, delta);
      return;
  }
}

int64_t retryInMs(const Params& p, const Counters& c, int64_t nowMs, int64_t need) {
  if (neverFits(p, need)) {
    return kNeverMs;
  }
  if (remaining(p, c, nowMs) >= need) {
    return 0;
  }
  int64_t now = effectiveNow(c, nowMs);
  switch (p.algorithm) {
    case Algorithm::FixedWindow:
      return c.stampMs + p.windowMs - now;  // the next window has all `limit` >= need
    case Algorithm::SlidingWindow: {
      int64_t elapsed = now - c.stampMs;
      int64_t room = p.limit - c.current - need;  // what the weighted previous may still use
      if (room >= 0 && c.previous > 0) {
        // previous * (W - e) <= room * W  <=>  e >= W - floor(room * W / previous)
        int64_t e = p.windowMs - mulDivFloor(room, p.windowMs, c.previous);
        if (e < p.windowMs) {
          return std::max<int64_t>(e - elapsed, 0);
        }
      }
      // Next window: previous' = current, current' = 0.
      int64_t untilNext = p.windowMs - elapsed;
      if (c.current == 0) {
        return untilNext;
      }
      int64_t e = p.windowMs - mulDivFloor(p.limit - need, p.windowMs, c.current);
      return untilNext + std::max<int64_t>(e, 0);
    }
    case Algorithm::TokenBucket:
      return tokenWaitMs(p, c, need);
    case Algorithm::Concurrency:
    case Algorithm::Quota:  // unknown: an operator raises it, or never
      return 0;
  }
  return 0;
}

int64_t resetInMs(const Params& p, const Counters& c, int64_t nowMs) {
  int64_t now = effectiveNow(c, nowMs);
  switch (p.algorithm) {
    case Algorithm::FixedWindow:
      return c.current == 0 ? 0 : c.stampMs + p.windowMs - now;
    case Algorithm::SlidingWindow:
      if (c.current != 0) {
        return c.stampMs + 2 * p.windowMs - now;
      }
      return c.previous != 0 ? c.stampMs + p.windowMs - now : 0;
    case Algorithm::TokenBucket: {
      int64_t wait = tokenWaitMs(p, c, p.limit);
      return wait;
    }
    case Algorithm::Concurrency:
    case Algorithm::Quota:
      return 0;
  }
  return 0;
}

int64_t idleExpiryMs(const Params& p, const Counters& c, int64_t nowMs) {
  if (p.algorithm == Algorithm::Quota) {
    return kNeverMs;  // a quota is kept until an operator removes it
  }
  if (p.algorithm == Algorithm::Concurrency) {
    if (c.current == 0) {
      return nowMs;
    }
    return p.windowMs == 0 ? kNeverMs : addSat(c.stampMs, p.windowMs);
  }
  int64_t reset = resetInMs(p, c, nowMs);
  return reset >= kNeverMs - nowMs ? kNeverMs : nowMs + reset;
}

const char* storeStatusName(StoreStatus s) {
  switch (s) {
    case StoreStatus::Ok:
      return "ok";
    case StoreStatus::Unavailable:
      return "unavailable";
    case StoreStatus::Invalid:
      return "invalid";
  }
  return "unknown";
}

}  // namespace tg::store
