#include "limiter/headers.h"

#include <algorithm>
#include <charconv>

namespace tg::limiter {
namespace {

void appendUint(uint64_t v, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void appendLine(std::string_view name, uint64_t value, std::string& out) {
  out.append(name);
  out.append(": ");
  appendUint(value, out);
  out.append("\r\n");
}

uint64_t ceilSeconds(std::chrono::milliseconds d) {
  const auto ms = static_cast<uint64_t>(std::max<int64_t>(d.count(), 0));
  return ms / 1000 + (ms % 1000 != 0 ? 1 : 0);
}

bool rejecting(store::Verdict v) {
  return v == store::Verdict::OverLimit || v == store::Verdict::Blocked;
}

}  // namespace

void appendGoDuration(std::chrono::milliseconds d, std::string& out) {
  const uint64_t ms = static_cast<uint64_t>(std::max<int64_t>(d.count(), 0));
  if (ms == 0) {
    out.append("0s");
    return;
  }
  if (ms < 1000) {
    appendUint(ms, out);
    out.append("ms");
    return;
  }
  const uint64_t hours = ms / 3'600'000;
  const uint64_t minutes = ms / 60'000 % 60;
  const uint64_t seconds = ms / 1000 % 60;
  const uint64_t frac = ms % 1000;
  if (hours > 0) {
    appendUint(hours, out);
    out.push_back('h');
  }
  if (hours > 0 || minutes > 0) {
    appendUint(minutes, out);
    out.push_back('m');
  }
  appendUint(seconds, out);
  if (frac != 0) {  // ".5", ".25", ".125": Go trims trailing zeros
    char digits[4] = {static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                      static_cast<char>('0' + frac % 10), 0};
    size_t len = 3;
    while (digits[len - 1] == '0') {
      --len;
    }
    out.push_back('.');
    out.append(digits, len);
  }
  out.push_back('s');
}

std::string formatGoDuration(std::chrono::milliseconds d) {
  std::string s;
  appendGoDuration(d, s);
  return s;
}

void appendQuotaHeaders(const store::BucketState& state, std::string_view unit, std::string& out) {
  out.append("x-ratelimit-limit-").append(unit).append(": ");
  appendUint(state.limit, out);
  out.append("\r\nx-ratelimit-remaining-").append(unit).append(": ");
  appendUint(static_cast<uint64_t>(std::max<int64_t>(state.remaining, 0)), out);
  out.append("\r\nx-ratelimit-reset-").append(unit).append(": ");
  appendGoDuration(state.resetIn, out);
  out.append("\r\n");
}

RetryHeaderValues retryHeaderValues(std::chrono::milliseconds retryIn, bool retryable) {
  RetryHeaderValues v;
  if (!retryable) {
    v.shouldRetryFalse = true;
    return v;
  }
  const std::chrono::milliseconds wait = retryIn.count() > 0 ? retryIn : kUnknownRetryWait;
  v.retryAfterSeconds = ceilSeconds(wait);
  v.higressResetSeconds = v.retryAfterSeconds;
  if (wait <= kMaxSdkRetryWait) {
    v.retryAfterMs = static_cast<uint64_t>(wait.count());
  } else {
    v.shouldRetryFalse = true;
  }
  return v;
}

void appendRetryHeaders(std::chrono::milliseconds retryIn, bool retryable, std::string& out) {
  const RetryHeaderValues v = retryHeaderValues(retryIn, retryable);
  if (v.retryAfterSeconds) {
    appendLine("retry-after", *v.retryAfterSeconds, out);
  }
  if (v.retryAfterMs) {
    appendLine("retry-after-ms", *v.retryAfterMs, out);
  }
  if (v.shouldRetryFalse) {
    out.append("x-should-retry: false\r\n");
  }
  if (v.higressResetSeconds) {
    appendLine("X-TokenRateLimit-Reset", *v.higressResetSeconds, out);
  }
}

std::optional<size_t> mostConstrained(std::span<const store::BucketState> states) {
  std::optional<size_t> best;
  bool bestRejects = false;
  for (size_t i = 0; i < states.size(); ++i) {
    const store::BucketState& s = states[i];
    const bool rejects = rejecting(s.verdict);
    if (!best) {
      best = i;
      bestRejects = rejects;
      continue;
    }
    const store::BucketState& b = states[*best];
    bool better = false;
    if (rejects != bestRejects) {
      better = rejects;
    } else if (rejects) {
      better = s.retryIn > b.retryIn;
    } else {
      better = s.remaining < b.remaining || (s.remaining == b.remaining && s.resetIn > b.resetIn);
    }
    if (better) {
      best = i;
      bestRejects = rejects;
    }
  }
  return best;
}

}  // namespace tg::limiter
