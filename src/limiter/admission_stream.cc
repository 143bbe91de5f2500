// Admission: stream enforcement (topUp / toppedUp), see admission.h.
#include <algorithm>

#include "limiter/admission.h"

namespace tg::limiter {

bool Admission::followsStream() {
  if (follow_.built) {
    return follow_.on;
  }
  follow_.built = true;
  follow_.on = false;
  follow_.at.clear();
  follow_.covered.clear();
  follow_.remaining = INT64_MAX;
  follow_.extra.clear();
  const Group& g = groups_[0];
  const bool admitted = outcome_ == Outcome::Allowed || outcome_ == Outcome::ShadowRejected ||
                        outcome_ == Outcome::StoreFailure;
  if (set_ == nullptr || !admitted || !g.reserved || g.store == nullptr) {
    return false;
  }
  follow_.extra.assign(g.index.size(), 0);
  for (size_t k = 0; k < g.index.size(); ++k) {
    const MatchedBucket& b = buckets_[g.index[k]];
    if (b.kind == AmountKind::Tokens && set_->policies[b.policyIndex].enforceStream) {
      follow_.at.push_back(k);
      follow_.covered.push_back(g.result.reservations[k].charged);
      follow_.remaining = std::min(follow_.remaining, g.result.reservations[k].state.remaining);
    }
  }
  follow_.on = !follow_.at.empty();
  return follow_.on;
}

std::optional<Admission::ReserveCall> Admission::topUp(const core::TokenUsage& sofar,
                                                       uint64_t ahead) {
  if (!followsStream() || settled_) {
    return std::nullopt;
  }
  const Group& g = groups_[0];
  core::TokenUsage want = sofar;
  // The headroom shrinks as the buckets near their limit, so that one stream does not hold
  // what other requests could be admitted with.
  const auto left = static_cast<uint64_t>(std::max<int64_t>(follow_.remaining, 0));
  want.outputTokens += std::min<uint64_t>(ahead, left / 4);
  bool short_ = false;
  for (size_t j = 0; j < follow_.at.size(); ++j) {
    const MatchedBucket& b = buckets_[g.index[follow_.at[j]]];
    const Policy& p = set_->policies[b.policyIndex];
    if (tokenAmount(b.quantity, sofar, p.weights) > follow_.covered[j]) {
      short_ = true;
      break;
    }
  }
  if (!short_) {
    return std::nullopt;
  }
  follow_.calling.clear();
  follow_.amounts.clear();
  size_t n = 0;
  for (size_t j = 0; j < follow_.at.size(); ++j) {
    const size_t k = follow_.at[j];
    const MatchedBucket& b = buckets_[g.index[k]];
    const Policy& p = set_->policies[b.policyIndex];
    const int64_t lack = tokenAmount(b.quantity, want, p.weights) - follow_.covered[j];
    if (lack <= 0) {
      continue;
    }
    if (follow_.specs.size() == n) {
      follow_.specs.emplace_back();
    }
    follow_.specs[n] = g.specs[k];
    follow_.specs[n].penalty = std::chrono::milliseconds(0);
    follow_.calling.push_back(j);
    follow_.amounts.push_back(lack);
    ++n;
  }
  ++follow_.calls;
  return ReserveCall{std::span<const store::BucketSpec>(follow_.specs.data(), n), follow_.amounts,
                     store::ReserveMode::Reserve, &follow_.result};
}

Admission::TopUp Admission::toppedUp() {
  const store::Verdict v = follow_.result.verdict;
  if (v == store::Verdict::StoreFull || v == store::Verdict::StoreError) {
    return TopUp::StoreFailed;
  }
  for (size_t i = 0; i < follow_.calling.size() && i < follow_.result.reservations.size(); ++i) {
    const int64_t left = follow_.result.reservations[i].state.remaining;
    follow_.remaining = i == 0 ? left : std::min(follow_.remaining, left);
  }
  if (v != store::Verdict::Admitted) {
    return TopUp::Refused;  // all or nothing: nothing was charged
  }
  for (size_t i = 0; i < follow_.calling.size(); ++i) {
    const size_t j = follow_.calling[i];
    const int64_t charged = i < follow_.result.reservations.size()
                                ? follow_.result.reservations[i].charged
                                : follow_.amounts[i];
    follow_.covered[j] += charged;
    follow_.extra[follow_.at[j]] += charged;
  }
  return TopUp::Covered;
}

const MatchedBucket* Admission::followRefusedBy() const {
  const store::ReserveResult& r = follow_.result;
  if (!follow_.built || r.verdict == store::Verdict::Admitted ||
      r.decisiveIndex >= follow_.calling.size()) {
    return nullptr;
  }
  return &buckets_[groups_[0].index[follow_.at[follow_.calling[r.decisiveIndex]]]];
}

bool Admission::followClosedOnFailure() const {
  const Group& g = groups_[0];
  return std::any_of(follow_.at.begin(), follow_.at.end(), [&](size_t k) {
    return set_->policies[buckets_[g.index[k]].policyIndex].storeFailure ==
           StoreFailureMode::Closed;
  });
}

}  // namespace tg::limiter
