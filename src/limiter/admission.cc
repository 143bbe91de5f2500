#include "limiter/admission.h"

#include <algorithm>

#include "limiter/headers.h"
#include "limiter/reservation.h"

namespace tg::limiter {

std::string_view outcomeName(Outcome o) {
  switch (o) {
    case Outcome::NoLimits:
      return "none";
    case Outcome::Allowed:
      return "allowed";
    case Outcome::ShadowRejected:
      return "shadow_rejected";
    case Outcome::Rejected:
      return "rejected";
    case Outcome::TooLarge:
      return "too_large";
    case Outcome::StoreFailure:
      return "store_failure";
  }
  return "none";
}

namespace {

// Group of a bucket: enforced strict, enforced check-only, shadow strict, shadow check-only.
size_t groupOf(const MatchedBucket& b) {
  return (b.shadow ? 2 : 0) + (b.reserveMode == store::ReserveMode::CheckOnly ? 1 : 0);
}

store::ReserveMode modeOfGroup(size_t g) {
  return (g % 2) == 1 ? store::ReserveMode::CheckOnly : store::ReserveMode::Reserve;
}

// What the policy reserves of each token kind before the response is known.
TokenCounts reservedCounts(const Policy& p, const Demand& d) {
  TokenCounts c;
  if (p.reservation == ReservationMode::None) {
    return c;
  }
  c.input = d.promptEstimate;
  if (p.reservation == ReservationMode::PromptPlusMax) {
    c.output = d.maxTokens.value_or(p.defaultMaxTokens);
  }
  return c;
}

bool isStoreFailure(store::Verdict v) {
  return v == store::Verdict::StoreFull || v == store::Verdict::StoreError;
}

}  // namespace

Outcome Admission::admit(const PolicySet& set, store::Store& store, DistinctKeyCap* cap,
                         const RequestFacts& facts, const Demand& demand, store::TimePoint now) {
  set_ = &set;
  outcome_ = Outcome::NoLimits;
  hasDecisive_ = false;
  retryIn_ = std::chrono::milliseconds(0);
  reservedTokens_ = 0;
  settled_ = true;
  for (Group& g : groups_) {
    g.index.clear();
    g.amounts.clear();
    g.reserved = false;
  }
  matchInto(set, facts, now, buckets_, cap);
  if (buckets_.empty()) {
    return outcome_;
  }
  for (size_t i = 0; i < buckets_.size(); ++i) {
    const MatchedBucket& b = buckets_[i];
    const Policy& p = set.policies[b.policyIndex];
    Group& g = groups_[groupOf(b)];
    if (g.index.size() == g.specs.size()) {
      g.specs.emplace_back();
    }
    g.specs[g.index.size()] = b.spec;  // copy-assign: reuses the key's capacity
    g.index.push_back(i);
    const int64_t amount = tokenAmount(b.quantity, reservedCounts(p, demand), p.weights);
    g.amounts.push_back(amount);
    if (b.kind == AmountKind::Tokens && !b.shadow) {
      reservedTokens_ = std::max(reservedTokens_, amount);
    }
  }

  outcome_ = Outcome::Allowed;
  for (size_t gi = 0; gi < kGroups; ++gi) {
    Group& g = groups_[gi];
    if (g.index.empty()) {
      continue;
    }
    const bool shadow = gi >= 2;
    if (shadow && outcome_ != Outcome::Allowed && outcome_ != Outcome::StoreFailure) {
      break;
    }
    store.reserveInto(std::span<const store::BucketSpec>(g.specs.data(), g.index.size()),
                      g.amounts, modeOfGroup(gi), now, g.result);
    g.reserved = true;
    const store::Verdict v = g.result.verdict;
    if (v == store::Verdict::Admitted) {
      continue;
    }
    if (isStoreFailure(v)) {
      // Fail open: the buckets that could be decided were not charged (all or nothing), so
      // there is nothing to settle for this group.
      g.reserved = false;
      if (!hasDecisive_) {
        outcome_ = Outcome::StoreFailure;
        hasDecisive_ = true;
        decisiveGroup_ = gi;
        decisiveInGroup_ = g.result.decisiveIndex;
      }
      continue;
    }
    hasDecisive_ = true;
    decisiveGroup_ = gi;
    decisiveInGroup_ = g.result.decisiveIndex;
    if (shadow) {
      // Kept reserved (charged 0): settle charges the real usage so the shadow buckets count.
      outcome_ = Outcome::ShadowRejected;
      continue;
    }
    g.reserved = false;  // a rejected reserve charged nothing
    outcome_ = v == store::Verdict::TooLarge ? Outcome::TooLarge : Outcome::Rejected;
    retryIn_ = g.result.retryIn;
    rollBack(store, gi, now);
    return outcome_;
  }
  settled_ = false;
  return outcome_;
}

void Admission::rollBack(store::Store& store, size_t upTo, store::TimePoint now) {
  for (size_t gi = 0; gi < upTo; ++gi) {
    Group& g = groups_[gi];
    if (!g.reserved) {
      continue;
    }
    deltas_.clear();
    for (const store::Reservation& r : g.result.reservations) {
      deltas_.push_back(-r.charged);
    }
    store.settle(g.result.reservations, deltas_, now);
    g.reserved = false;
  }
}

void Admission::settle(store::Store& store, const TokenCounts& actual, store::TimePoint now) {
  if (settled_) {
    return;
  }
  settled_ = true;
  for (Group& g : groups_) {
    if (!g.reserved) {
      continue;
    }
    deltas_.clear();
    for (size_t k = 0; k < g.index.size(); ++k) {
      const MatchedBucket& b = buckets_[g.index[k]];
      const Policy& p = set_->policies[b.policyIndex];
      const int64_t real = tokenAmount(b.quantity, actual, p.weights);
      deltas_.push_back(settlementDelta(g.result.reservations[k], real));
    }
    store.settle(g.result.reservations, deltas_, now);
    g.reserved = false;
  }
}

const MatchedBucket* Admission::decisive() const {
  if (!hasDecisive_) {
    return nullptr;
  }
  const Group& g = groups_[decisiveGroup_];
  return decisiveInGroup_ < g.index.size() ? &buckets_[g.index[decisiveInGroup_]] : nullptr;
}

const store::BucketState* Admission::decisiveState() const {
  if (!hasDecisive_) {
    return nullptr;
  }
  const Group& g = groups_[decisiveGroup_];
  return decisiveInGroup_ < g.result.reservations.size()
             ? &g.result.reservations[decisiveInGroup_].state
             : nullptr;
}

int64_t Admission::decisiveAmount() const {
  if (!hasDecisive_) {
    return 0;
  }
  const Group& g = groups_[decisiveGroup_];
  return decisiveInGroup_ < g.amounts.size() ? g.amounts[decisiveInGroup_] : 0;
}

void Admission::collectStates(const Group& g, std::vector<store::BucketState>& tokens,
                              std::vector<store::BucketState>& requests) const {
  for (size_t k = 0; k < g.index.size() && k < g.result.reservations.size(); ++k) {
    const MatchedBucket& b = buckets_[g.index[k]];
    if (b.kind == AmountKind::Tokens) {
      tokens.push_back(g.result.reservations[k].state);
    } else if (b.kind == AmountKind::Requests) {
      requests.push_back(g.result.reservations[k].state);
    }
  }
}

void Admission::appendHeaders(std::string& out) const {
  if (outcome_ == Outcome::NoLimits) {
    return;
  }
  std::vector<store::BucketState>& tokens = tokenStates_;
  std::vector<store::BucketState>& requests = requestStates_;
  tokens.clear();
  requests.clear();
  if (rejected()) {
    collectStates(groups_[decisiveGroup_], tokens, requests);
  } else {
    for (size_t gi = 0; gi < 2; ++gi) {
      if (!groups_[gi].index.empty() && !isStoreFailure(groups_[gi].result.verdict)) {
        collectStates(groups_[gi], tokens, requests);
      }
    }
  }
  if (auto i = mostConstrained(tokens)) {
    appendQuotaHeaders(tokens[*i], "tokens", out);
  }
  if (auto i = mostConstrained(requests)) {
    appendQuotaHeaders(requests[*i], "requests", out);
  }
  if (rejected()) {
    appendRetryHeaders(retryIn_, outcome_ == Outcome::Rejected, out);
  }
}

}  // namespace tg::limiter
