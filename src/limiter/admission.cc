#include "limiter/admission.h"

#include <algorithm>
#include <cmath>

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
    case Outcome::StoreUnavailable:
      return "store_unavailable";
  }
  return "none";
}

std::vector<std::string> decisionNames() {
  std::vector<std::string> out;
  for (Outcome o : {Outcome::Allowed, Outcome::ShadowRejected, Outcome::Rejected, Outcome::TooLarge,
                    Outcome::StoreFailure, Outcome::StoreUnavailable}) {
    out.emplace_back(outcomeName(o));
  }
  return out;
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
core::TokenUsage reservedCounts(const Policy& p, const Demand& d) {
  core::TokenUsage c;
  if (p.reservation == ReservationMode::None) {
    return c;
  }
  c.inputTokens = d.promptEstimate;
  if (p.reservation == ReservationMode::PromptPlusMax) {
    c.outputTokens = d.maxTokens.value_or(p.defaultMaxTokens);
  }
  return c;
}

bool isStoreFailure(store::Verdict v) {
  return v == store::Verdict::StoreFull || v == store::Verdict::StoreError;
}

}  // namespace

void Admission::addToGroup(Group& g, size_t bucket, const store::BucketSpec& spec, int64_t amount) {
  if (g.index.size() == g.specs.size()) {
    g.specs.emplace_back();
  }
  g.specs[g.index.size()] = spec;  // copy-assign: reuses the key's capacity
  g.index.push_back(bucket);
  g.amounts.push_back(amount);
}

bool Admission::begin(const PolicySet& set, DistinctKeyCap* cap, const RequestFacts& facts,
                      const Demand& demand, store::TimePoint now) {
  set_ = &set;
  demand_ = demand;
  outcome_ = Outcome::NoLimits;
  hasDecisive_ = false;
  retryIn_ = std::chrono::milliseconds(0);
  reservedTokens_ = 0;
  settled_ = true;
  nextGroup_ = 0;
  pending_ = kGroups;
  follow_.built = false;
  follow_.on = false;
  follow_.calls = 0;
  for (size_t gi = 0; gi < kGroups; ++gi) {
    Group& g = groups_[gi];
    g.index.clear();
    g.amounts.clear();
    g.reserved = false;
    g.store = nullptr;
    g.mode = gi == kLocal ? store::ReserveMode::Reserve : modeOfGroup(gi);
  }
  matchInto(set, facts, now, buckets_, cap);
  if (buckets_.empty()) {
    return false;
  }
  for (size_t i = 0; i < buckets_.size(); ++i) {
    const MatchedBucket& b = buckets_[i];
    const Policy& p = set.policies[b.policyIndex];
    const int64_t amount = tokenAmount(b.quantity, reservedCounts(p, demand), p.weights);
    addToGroup(groups_[groupOf(b)], i, b.spec, amount);
    if (b.kind == AmountKind::Tokens && !b.shadow) {
      reservedTokens_ = std::max(reservedTokens_, amount);
    }
  }
  outcome_ = Outcome::Allowed;
  settled_ = false;
  return true;
}

std::optional<Admission::ReserveCall> Admission::next() {
  if (outcome_ == Outcome::NoLimits || rejected()) {
    return std::nullopt;
  }
  while (nextGroup_ < kLocal) {
    const size_t gi = nextGroup_++;
    Group& g = groups_[gi];
    if (g.index.empty()) {
      continue;
    }
    // Shadow groups only once every enforced one admitted (or failed open).
    if (gi >= 2 && outcome_ != Outcome::Allowed && outcome_ != Outcome::StoreFailure &&
        outcome_ != Outcome::ShadowRejected) {
      return std::nullopt;
    }
    pending_ = gi;
    return ReserveCall{std::span<const store::BucketSpec>(g.specs.data(), g.index.size()),
                       g.amounts, g.mode, &g.result};
  }
  return std::nullopt;
}

void Admission::rejectWith(size_t gi, Outcome o, store::TimePoint now) {
  outcome_ = o;
  retryIn_ = o == Outcome::Rejected ? groups_[gi].result.retryIn : std::chrono::milliseconds(0);
  groups_[gi].reserved = false;  // a rejected reserve charged nothing
  rollBack(now);
  settled_ = true;
}

void Admission::reserved(store::Store& store, store::Store* local, store::TimePoint now) {
  const size_t gi = pending_;
  pending_ = kGroups;
  if (gi >= kLocal) {
    return;
  }
  Group& g = groups_[gi];
  g.store = &store;
  g.reserved = true;
  const store::Verdict v = g.result.verdict;
  if (v == store::Verdict::Admitted) {
    return;
  }
  if (isStoreFailure(v)) {
    g.reserved = false;  // all or nothing: the store charged none of this group
    decideFailure(gi, local, &store, now);
    return;
  }
  if (!hasDecisive_ || gi < 2) {
    hasDecisive_ = true;
    decisiveGroup_ = gi;
    decisiveInGroup_ = g.result.decisiveIndex;
  }
  if (gi >= 2) {
    // Shadow: kept reserved (charged 0), so settle charges the real usage and the shadow
    // buckets keep counting.
    if (outcome_ == Outcome::Allowed) {
      outcome_ = Outcome::ShadowRejected;
    }
    return;
  }
  rejectWith(gi, v == store::Verdict::TooLarge ? Outcome::TooLarge : Outcome::Rejected, now);
}

void Admission::decideFailure(size_t gi, store::Store* local, store::Store* primary,
                              store::TimePoint now) {
  const Group& g = groups_[gi];
  const bool shadow = gi >= 2;
  // Closed (enforced buckets only: a shadow rule never rejects).
  if (!shadow) {
    for (size_t k = 0; k < g.index.size(); ++k) {
      const Policy& p = set_->policies[buckets_[g.index[k]].policyIndex];
      if (p.storeFailure == StoreFailureMode::Closed) {
        hasDecisive_ = true;
        decisiveGroup_ = gi;
        decisiveInGroup_ = k;
        rejectWith(gi, Outcome::StoreUnavailable, now);
        return;
      }
    }
  }
  if (outcome_ == Outcome::Allowed || outcome_ == Outcome::ShadowRejected) {
    outcome_ = Outcome::StoreFailure;
    if (!hasDecisive_) {
      hasDecisive_ = true;
      decisiveGroup_ = gi;
      decisiveInGroup_ = g.result.decisiveIndex;
    }
  }
  // Local: the same buckets in this instance's memory, limits scaled down.
  if (shadow || local == nullptr || local == primary) {
    return;
  }
  Group& lg = groups_[kLocal];
  lg.index.clear();
  lg.amounts.clear();
  lg.mode = g.mode;
  for (size_t k = 0; k < g.index.size(); ++k) {
    const Policy& p = set_->policies[buckets_[g.index[k]].policyIndex];
    if (p.storeFailure != StoreFailureMode::Local) {
      continue;
    }
    addToGroup(lg, g.index[k], g.specs[k], g.amounts[k]);
    store::BucketSpec& spec = lg.specs[lg.index.size() - 1];
    spec.limit = static_cast<uint64_t>(std::floor(static_cast<double>(spec.limit) * p.localShare));
  }
  if (lg.index.empty()) {
    return;
  }
  local->reserveInto(std::span<const store::BucketSpec>(lg.specs.data(), lg.index.size()),
                     lg.amounts, lg.mode, now, lg.result);
  lg.store = local;
  lg.reserved = true;
  const store::Verdict v = lg.result.verdict;
  if (v == store::Verdict::Admitted || isStoreFailure(v)) {
    lg.reserved = v == store::Verdict::Admitted;
    return;
  }
  hasDecisive_ = true;
  decisiveGroup_ = kLocal;
  decisiveInGroup_ = lg.result.decisiveIndex;
  rejectWith(kLocal, v == store::Verdict::TooLarge ? Outcome::TooLarge : Outcome::Rejected, now);
}

Outcome Admission::admit(const PolicySet& set, store::Store& store, DistinctKeyCap* cap,
                         const RequestFacts& facts, const Demand& demand, store::TimePoint now,
                         store::Store* local) {
  if (begin(set, cap, facts, demand, now)) {
    decideInline(store, local, now);
  }
  return outcome_;
}

void Admission::rollBack(store::TimePoint now) {
  for (Group& g : groups_) {
    if (!g.reserved || g.store == nullptr) {
      continue;
    }
    deltas_.clear();
    for (size_t k = 0; k < g.index.size(); ++k) {
      deltas_.push_back(-g.result.reservations[k].charged);
    }
    g.store->settle(
        std::span<const store::Reservation>(g.result.reservations.data(), g.index.size()), deltas_,
        now);
    g.reserved = false;
  }
}

void Admission::settle(const core::TokenUsage& actual, store::TimePoint now) {
  if (settled_) {
    return;
  }
  settled_ = true;
  for (Group& g : groups_) {
    if (!g.reserved || g.store == nullptr) {
      continue;
    }
    deltas_.clear();
    for (size_t k = 0; k < g.index.size(); ++k) {
      const MatchedBucket& b = buckets_[g.index[k]];
      const Policy& p = set_->policies[b.policyIndex];
      const int64_t real = tokenAmount(b.quantity, actual, p.weights);
      const int64_t toppedUp = &g == &groups_[0] && follow_.built ? follow_.extra[k] : 0;
      deltas_.push_back(settlementDelta(g.result.reservations[k], real) - toppedUp);
    }
    g.store->settle(
        std::span<const store::Reservation>(g.result.reservations.data(), g.index.size()), deltas_,
        now);
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

std::optional<uint64_t> Admission::outputBudget() const {
  const Group& g = groups_[0];
  if ((outcome_ != Outcome::Allowed && outcome_ != Outcome::ShadowRejected) || !g.reserved) {
    return std::nullopt;
  }
  std::optional<uint64_t> budget;
  for (size_t k = 0; k < g.index.size() && k < g.result.reservations.size(); ++k) {
    const MatchedBucket& b = buckets_[g.index[k]];
    const Policy& p = set_->policies[b.policyIndex];
    if (!p.clampMaxTokens || b.kind != AmountKind::Tokens || b.quantity == Quantity::InputTokens) {
      continue;
    }
    // What is left after this reservation, plus the output part of the reservation itself.
    core::TokenUsage output;
    output.outputTokens = reservedCounts(p, demand_).outputTokens;
    const double units =
        static_cast<double>(std::max<int64_t>(g.result.reservations[k].state.remaining, 0)) +
        static_cast<double>(tokenAmount(b.quantity, output, p.weights));
    const double perToken = b.quantity == Quantity::WeightedTokens ? p.weights.output : 1.0;
    const auto tokens = static_cast<uint64_t>(std::floor(units / std::max(perToken, 1e-9)));
    budget = budget ? std::min(*budget, tokens) : tokens;
  }
  return budget;
}

int64_t Admission::amountOf(size_t matchedIndex) const {
  for (const Group& g : groups_) {
    for (size_t k = 0; k < g.index.size(); ++k) {
      if (g.index[k] == matchedIndex) {
        return g.amounts[k];
      }
    }
  }
  return 0;
}

void Admission::decideInline(store::Store& store, store::Store* local, store::TimePoint now) {
  while (std::optional<ReserveCall> call = next()) {
    store.reserveInto(call->buckets, call->amounts, call->mode, now, *call->out);
    reserved(store, local, now);
  }
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
  if (outcome_ == Outcome::StoreUnavailable) {
    // nothing is known about the buckets
  } else if (rejected()) {
    collectStates(groups_[decisiveGroup_], tokens, requests);
  } else {
    for (size_t gi : {size_t{0}, size_t{1}, kLocal}) {
      const Group& g = groups_[gi];
      if (!g.index.empty() && g.store != nullptr && !isStoreFailure(g.result.verdict)) {
        collectStates(g, tokens, requests);
      }
    }
  }
  if (auto i = mostConstrained(tokens)) {
    appendQuotaHeaders(tokens[*i], "tokens", out);
  }
  if (auto i = mostConstrained(requests)) {
    appendQuotaHeaders(requests[*i], "requests", out);
  }
  if (outcome_ == Outcome::Rejected || outcome_ == Outcome::TooLarge) {
    appendRetryHeaders(retryIn_, outcome_ == Outcome::Rejected, out);
  } else if (outcome_ == Outcome::StoreUnavailable) {
    out += "retry-after: 1\r\n";
  }
}

}  // namespace tg::limiter
