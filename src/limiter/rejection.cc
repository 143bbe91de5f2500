#include "limiter/rejection.h"

#include "limiter/headers.h"

namespace tg::limiter {

std::string_view windowName(std::chrono::milliseconds window) {
  switch (window.count()) {
    case 1'000:
      return "second";
    case 60'000:
      return "minute";
    case 3'600'000:
      return "hour";
    case 86'400'000:
      return "day";
    default:
      return {};
  }
}

std::string limitName(const MatchedBucket& b) {
  if (b.kind == AmountKind::Concurrency) {
    return "concurrent requests";
  }
  std::string s(quantityName(b.quantity));
  for (char& c : s) {
    c = c == '_' ? ' ' : c;
  }
  s += " per ";
  std::string_view w = windowName(b.spec.window);
  if (w.empty()) {
    s += formatGoDuration(b.spec.window);
  } else {
    s += w;
  }
  return s;
}

std::string_view storeFailureModeName(StoreFailureMode m) {
  switch (m) {
    case StoreFailureMode::Open:
      return "open";
    case StoreFailureMode::Closed:
      return "closed";
    case StoreFailureMode::Local:
      return "local";
  }
  return "unknown";
}

std::vector<std::string> storeFailureModeNames() {
  std::vector<std::string> out;
  for (StoreFailureMode m :
       {StoreFailureMode::Open, StoreFailureMode::Closed, StoreFailureMode::Local}) {
    out.emplace_back(storeFailureModeName(m));
  }
  return out;
}

std::string rejectionMessage(const Admission& a, const PolicySet& set) {
  const MatchedBucket& b = *a.decisive();
  const Policy& policy = set.policies[b.policyIndex];
  if (a.outcome() == Outcome::StoreUnavailable) {
    return "The rate-limit store is unavailable and policy '" + policy.name +
           "' fails closed. Retry shortly.";
  }
  const Rule& rule = policy.rules[b.ruleIndex];
  const store::BucketState* st = a.decisiveState();
  const uint64_t limit = st ? st->limit : b.spec.limit;
  const int64_t remaining = st ? st->remaining : 0;
  const std::string what = limitName(b);
  std::string where = policy.name + "/" + rule.name;
  if (!b.value.empty()) {
    where += " (" + b.value + ")";
  }
  const int64_t requested = a.decisiveAmount();
  if (a.outcome() == Outcome::TooLarge) {
    return "Request too large for " + what + " on " + where + ": Limit " + std::to_string(limit) +
           ", Requested " + std::to_string(requested) +
           ". The input or output tokens must be reduced in order to run successfully.";
  }
  std::string msg;
  if (st && st->verdict == store::Verdict::Blocked) {
    msg = "Rate limit exceeded for " + what + " on " + where +
          ": blocked for a while after exceeding the limit.";
  } else if (b.kind == AmountKind::Concurrency) {
    msg = "Too many concurrent requests on " + where + ": Limit " + std::to_string(limit) + ".";
  } else {
    const int64_t used = static_cast<int64_t>(limit) - remaining;
    msg = "Rate limit reached for " + what + " on " + where + ": Limit " + std::to_string(limit) +
          ", Used " + std::to_string(used) + ", Requested " + std::to_string(requested) + ".";
  }
  if (a.retryIn().count() > 0) {
    msg += " Please try again in " + formatGoDuration(a.retryIn()) + ".";
  }
  return msg;
}

std::string_view rejectionType(const Admission& a) {
  const MatchedBucket* b = a.decisive();
  return b && b->kind == AmountKind::Tokens ? "tokens" : "requests";
}

}  // namespace tg::limiter
