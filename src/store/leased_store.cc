#include "store/leased_store.h"

#include <algorithm>
#include <functional>
#include <utility>
#include <vector>

namespace tg::store {

namespace {

using std::chrono::milliseconds;

int64_t needOf(int64_t amount) { return std::max<int64_t>(amount, 1); }
int64_t amountOf(std::span<const int64_t> amounts, size_t i) {
  return i < amounts.size() ? std::max<int64_t>(amounts[i], 0) : 0;
}
int64_t msOf(const BucketSpec& b) { return std::max<int64_t>(b.window.count(), 1); }
int64_t satAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) {
    return b > 0 ? INT64_MAX : INT64_MIN;
  }
  return r;
}

}  // namespace

struct LeasedStore::Lease {
  uint64_t id = 0;  // 0 = no lease held
  int64_t granted = 0;
  int64_t used = 0;  // charged from it (reservations, then settles): may exceed granted, or
                     // go below 0 (refunds of an earlier lease's requests)
  TimePoint takenAt{};
  TimePoint resetAt{};  // the inner store's resetIn at the grant, as a time
  Reservation inner;    // the inner store's reservation of the slice (what a return settles)
};

struct LeasedStore::Entry {
  Lease lease;
  int64_t globalRemaining = -1;  // the inner store's remaining after the last answer; -1 unknown
  int64_t rateTarget = 0;        // next slice by the last lease's consumption (0 = none yet)
  // Demand seen here without a lease: tokens and requests in the current and the previous
  // ttl-long period (a bucket this worker sees once per ttl is not worth a lease).
  TimePoint periodStart{};
  int64_t periodTokens = 0, periodRequests = 0;
  int64_t lastPeriodTokens = 0, lastPeriodRequests = 0;
  bool pending = false;  // a lease request for this bucket is in flight
  TimePoint lastUsed{};
};

// One reserve that needs the inner store: the buckets decided locally are charged tentatively,
// the others (with their slices) go to the inner store in one all-or-nothing reserve.
struct LeasedStore::Call {
  std::span<const BucketSpec> buckets;
  std::span<const int64_t> amounts;
  ReserveMode mode = ReserveMode::Reserve;
  TimePoint now{};
  ReserveResult* out = nullptr;
  std::function<void()> done;
  std::vector<uint8_t> local;      // per bucket: charged from a lease
  std::vector<size_t> innerIndex;  // inner position -> bucket index
  std::vector<BucketSpec> specs;   // inner request
  std::vector<int64_t> innerAmounts;
  std::vector<int64_t> slices;  // per inner position: slice asked on top of the amount
  ReserveResult innerOut;
  bool retry = false;  // finishInner: the lease request was refused, run it again exactly
};

size_t LeasedStore::KeyHash::operator()(const KeyView& k) const {
  size_t h = std::hash<std::string_view>{}(k.key);
  return h ^ (static_cast<size_t>(k.windowMs) * 0x9e3779b97f4a7c15ULL) ^
         static_cast<size_t>(k.algorithm);
}
bool LeasedStore::KeyEq::operator()(const KeyView& a, const KeyView& b) const {
  return a.algorithm == b.algorithm && a.windowMs == b.windowMs && a.key == b.key;
}

LeasedStore::LeasedStore(std::shared_ptr<Store> inner, LeaseOptions options)
    : inner_(std::move(inner)), options_(options) {
  options_.ttl = std::max(options_.ttl, milliseconds(1));
  if (!(options_.maxShare > 0.0) || options_.maxShare > 1.0) {
    options_.maxShare = 1.0 / 16;
  }
  options_.remainingDivisor = std::max<uint64_t>(options_.remainingDivisor, 1);
}

LeasedStore::~LeasedStore() = default;

size_t LeasedStore::leasesHeld() const {
  size_t n = 0;
  for (const auto& [k, e] : entries_) {
    n += e->lease.id != 0;
  }
  return n;
}

bool LeasedStore::leasable(const BucketSpec& b, ReserveMode mode) const {
  if (stopped_ || b.exact || mode != ReserveMode::Reserve || b.penalty.count() > 0 ||
      b.limit < options_.minLimit) {
    return false;
  }
  return b.algorithm == Algorithm::FixedWindow || b.algorithm == Algorithm::SlidingWindow ||
         b.algorithm == Algorithm::TokenBucket;
}

LeasedStore::Entry* LeasedStore::find(const BucketSpec& b) {
  auto it = entries_.find(KeyView{b.key, b.algorithm, msOf(b)});
  return it == entries_.end() ? nullptr : it->second.get();
}

LeasedStore::Entry& LeasedStore::findOrAdd(const BucketSpec& b) {
  if (Entry* e = find(b)) {
    return *e;
  }
  auto [it, added] =
      entries_.emplace(EntryKey{b.key, b.algorithm, msOf(b)}, std::make_unique<Entry>());
  return *it->second;
}

bool LeasedStore::fits(const Entry& e, int64_t need, TimePoint now) const {
  return usable(e, now) && e.lease.granted - e.lease.used >= need;
}

void LeasedStore::noteDemand(Entry& e, int64_t amount, TimePoint now) const {
  if (now - e.periodStart >= options_.ttl) {
    const bool adjacent = now - e.periodStart < 2 * options_.ttl;
    e.lastPeriodTokens = adjacent ? e.periodTokens : 0;
    e.lastPeriodRequests = adjacent ? e.periodRequests : 0;
    e.periodTokens = 0;
    e.periodRequests = 0;
    e.periodStart = now;
  }
  e.periodTokens = satAdd(e.periodTokens, std::max<int64_t>(amount, 1));
  ++e.periodRequests;
}

bool LeasedStore::usable(const Entry& e, TimePoint now) const {
  const Lease& l = e.lease;
  if (l.id == 0 || now >= l.takenAt + options_.ttl) {
    return false;
  }
  const BucketSpec& b = l.inner.bucket;
  if (b.algorithm == Algorithm::TokenBucket) {
    return true;
  }
  return now < l.inner.windowStart + milliseconds(msOf(b));  // never past its window
}

int64_t LeasedStore::sliceFor(const Entry& e, const BucketSpec& b, int64_t need) const {
  if (e.pending) {
    return 0;  // one lease request per bucket at a time; the others go exactly meanwhile
  }
  const int64_t limit = static_cast<int64_t>(std::min<uint64_t>(b.limit, INT64_MAX / 2));
  const auto cap = static_cast<int64_t>(static_cast<double>(limit) * options_.maxShare);
  int64_t slice = 0;
  if (e.rateTarget > 0) {
    slice = std::min(cap, e.rateTarget);
  } else if (options_.hotRequests <= 1) {
    slice = cap;  // eager
  } else if (e.periodRequests + e.lastPeriodRequests >= options_.hotRequests) {
    // No lease yet: twice the demand of the last ttl (the first lease of a hot bucket), capped.
    slice = std::min(cap, satAdd(e.periodTokens, e.lastPeriodTokens) * 2);
  } else {
    return 0;  // seen once in a ttl: exact (a cold bucket's slice would only strand budget)
  }
  const int64_t remaining = e.globalRemaining < 0 ? limit : std::min(e.globalRemaining, limit);
  slice = std::min(slice, (remaining - need) / static_cast<int64_t>(options_.remainingDivisor));
  return slice >= need ? slice : 0;  // too small to hold one more such request: exact
}

void LeasedStore::returnLease(Entry& e, TimePoint now) {
  Lease& l = e.lease;
  if (l.id == 0) {
    return;
  }
  // What this worker consumed per ttl decides the next slice (twice it: headroom).
  const auto life =
      std::max<int64_t>(std::chrono::duration_cast<milliseconds>(now - l.takenAt).count(), 1);
  const int64_t used = std::max<int64_t>(l.used, 0);
  const auto ttl = static_cast<double>(options_.ttl.count());
  const double perTtl = static_cast<double>(used) * ttl / static_cast<double>(life);
  e.rateTarget =
      perTtl >= 4e18 ? INT64_MAX / 4 : std::max<int64_t>(2 * static_cast<int64_t>(perTtl), 1);
  const int64_t delta = l.used - l.granted;
  if (delta != 0) {
    inner_->settle(std::span<const Reservation>(&l.inner, 1), std::span<const int64_t>(&delta, 1),
                   now);
  }
  ++counts_.leasesReturned;
  l = Lease{};
}

void LeasedStore::admitLocally(Entry& e, const BucketSpec& b, int64_t amount, TimePoint now,
                               Reservation& out) {
  Lease& l = e.lease;
  l.used = satAdd(l.used, amount);
  e.lastUsed = now;
  out.bucket = b;
  out.windowStart = l.inner.windowStart;
  out.charged = amount;
  out.id = l.inner.id;
  out.lease = l.id;
  out.state = BucketState{};
  out.state.limit = b.limit;
  out.state.remaining = satAdd(std::max<int64_t>(e.globalRemaining, 0), l.granted - l.used);
  if (b.algorithm == Algorithm::TokenBucket || b.algorithm == Algorithm::SlidingWindow) {
    out.state.resetIn =
        std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(l.resetAt - now));
  } else {
    out.state.resetIn =
        std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(
                                      l.inner.windowStart + milliseconds(msOf(b)) - now));
  }
}

bool LeasedStore::tryLocal(std::span<const BucketSpec> buckets, std::span<const int64_t> amounts,
                           ReserveMode mode, TimePoint now, ReserveResult& out) {
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (!leasable(buckets[i], mode)) {
      return false;
    }
    Entry* e = find(buckets[i]);
    if (e == nullptr || !fits(*e, needOf(amountOf(amounts, i)), now)) {
      return false;
    }
  }
  out.verdict = Verdict::Admitted;
  out.decisiveIndex = 0;
  out.retryIn = milliseconds(0);
  out.reservations.resize(buckets.size());
  for (size_t i = 0; i < buckets.size(); ++i) {
    admitLocally(*find(buckets[i]), buckets[i], amountOf(amounts, i), now, out.reservations[i]);
  }
  ++counts_.localAdmits;
  return true;
}

void LeasedStore::reserveInto(std::span<const BucketSpec> buckets, std::span<const int64_t> amounts,
                              ReserveMode mode, TimePoint now, ReserveResult& out) {
  if (!buckets.empty() && tryLocal(buckets, amounts, mode, now, out)) {
    return;
  }
  ++counts_.innerReserves;
  inner_->reserveInto(buckets, amounts, mode, now, out);
}

bool LeasedStore::reserveStart(std::span<const BucketSpec> buckets,
                               std::span<const int64_t> amounts, ReserveMode mode, TimePoint now,
                               ReserveResult& out, std::function<void()> done) {
  bool any = false;
  for (const auto& b : buckets) {
    any = any || leasable(b, mode);
  }
  if (!any) {  // nothing to lease: the inner store, exactly as without leases
    ++counts_.innerReserves;
    return inner_->reserveStart(buckets, amounts, mode, now, out, std::move(done));
  }
  lastNow_ = std::max(lastNow_, now);
  if (tryLocal(buckets, amounts, mode, now, out)) {
    return true;
  }
  auto call = std::make_shared<Call>();
  call->buckets = buckets;
  call->amounts = amounts;
  call->mode = mode;
  call->now = now;
  call->out = &out;
  call->done = std::move(done);
  call->local.assign(buckets.size(), 0);
  out.reservations.resize(buckets.size());
  for (size_t i = 0; i < buckets.size(); ++i) {
    const BucketSpec& b = buckets[i];
    const int64_t amount = amountOf(amounts, i);
    int64_t slice = 0;
    if (leasable(b, mode)) {
      Entry& e = findOrAdd(b);
      e.lastUsed = now;
      noteDemand(e, amount, now);
      if (fits(e, needOf(amount), now)) {
        admitLocally(e, b, amount, now, out.reservations[i]);  // tentative
        call->local[i] = 1;
        continue;
      }
      slice = sliceFor(e, b, needOf(amount));
      if (slice > 0) {
        e.pending = true;
      }
    }
    call->innerIndex.push_back(i);
    call->specs.push_back(b);
    call->innerAmounts.push_back(satAdd(amount, slice));
    call->slices.push_back(slice);
  }
  return startInner(std::move(call));
}

// Runs the inner reserve of `call` until it is final (a rejected lease request is retried with
// the exact amounts). True when it completed inline; otherwise call->done runs later.
bool LeasedStore::startInner(std::shared_ptr<Call> call) {
  for (;;) {
    ++counts_.innerReserves;
    Call* c = call.get();
    const bool inlineDone =
        inner_->reserveStart(c->specs, c->innerAmounts, c->mode, c->now, c->innerOut, [this, call] {
          finishInner(*call);
          if (!call->retry || startInner(call)) {
            call->done();
          }
        });
    if (!inlineDone) {
      return false;
    }
    finishInner(*c);
    if (!c->retry) {
      return true;
    }
  }
}

// Applies the inner store's answer. On a rejected lease request it resets the call to the exact
// amounts and sets c.retry (the caller runs it again); otherwise it writes the final result into
// *out.
void LeasedStore::finishInner(Call& c) {
  c.retry = false;
  ReserveResult& in = c.innerOut;
  ReserveResult& out = *c.out;
  const TimePoint now = c.now;
  bool sliced = false;
  for (size_t j = 0; j < c.innerIndex.size(); ++j) {
    const BucketSpec& b = c.buckets[c.innerIndex[j]];
    if (j < in.reservations.size() && leasable(b, c.mode)) {
      Entry& e = findOrAdd(b);
      e.globalRemaining = std::max<int64_t>(in.reservations[j].state.remaining, 0);
      if (c.slices[j] > 0) {
        e.pending = false;
      }
    }
    sliced = sliced || c.slices[j] > 0;
  }
  if (!in.admitted() && sliced && in.verdict == Verdict::OverLimit) {
    // The budget went to other holders meanwhile: the same request, exactly.
    ++counts_.exactFallbacks;
    for (size_t j = 0; j < c.innerIndex.size(); ++j) {
      c.innerAmounts[j] = amountOf(c.amounts, c.innerIndex[j]);
      c.slices[j] = 0;
    }
    c.retry = true;
    return;
  }
  if (in.reservations.size() < c.innerIndex.size()) {
    in.reservations.resize(c.innerIndex.size());  // a store that answered short: treat as is
  }
  out.verdict = in.verdict;
  out.retryIn = in.retryIn;
  out.decisiveIndex = in.decisiveIndex < c.innerIndex.size() ? c.innerIndex[in.decisiveIndex] : 0;
  for (size_t j = 0; j < c.innerIndex.size(); ++j) {
    const size_t i = c.innerIndex[j];
    const BucketSpec& b = c.buckets[i];
    Reservation& r = in.reservations[j];
    const int64_t amount = amountOf(c.amounts, i);
    if (in.admitted() && c.slices[j] > 0) {
      Entry& e = findOrAdd(b);
      returnLease(e, now);  // a newer lease replaces the old one
      Lease& l = e.lease;
      l.id = nextLeaseId_++;
      l.granted = r.charged;
      l.used = 0;
      l.takenAt = now;
      l.resetAt = now + r.state.resetIn;
      l.inner = r;
      l.inner.lease = 0;
      ++counts_.leasesTaken;
      admitLocally(e, b, amount, now, out.reservations[i]);
      continue;
    }
    if (!in.admitted() && leasable(b, c.mode) &&
        (r.state.verdict == Verdict::OverLimit || r.state.verdict == Verdict::Blocked)) {
      if (Entry* e = find(b)) {
        returnLease(*e, now);  // over the limit cluster-wide: stop admitting from a slice
      }
    }
    out.reservations[i] = std::move(r);
    out.reservations[i].lease = 0;
  }
  if (!out.admitted()) {  // all or nothing: take back the tentative local charges
    for (size_t i = 0; i < c.buckets.size(); ++i) {
      if (!c.local[i]) {
        continue;
      }
      Reservation& r = out.reservations[i];
      Entry* e = find(c.buckets[i]);
      if (e != nullptr && e->lease.id == r.lease) {
        e->lease.used -= r.charged;
        r.state.remaining = satAdd(r.state.remaining, r.charged);
      }
      r.charged = 0;
      r.lease = 0;
    }
  }
}

void LeasedStore::settle(std::span<const Reservation> reservations, std::span<const int64_t> deltas,
                         TimePoint now) {
  lastNow_ = std::max(lastNow_, now);
  std::vector<Reservation> forward;
  std::vector<int64_t> forwardDeltas;
  for (size_t i = 0; i < reservations.size(); ++i) {
    const Reservation& r = reservations[i];
    const int64_t delta = i < deltas.size() ? deltas[i] : 0;
    if (delta == 0) {
      continue;
    }
    if (r.lease != 0) {
      // Into the lease it came from, or into the bucket's current lease when that one counts
      // the same window (a TokenBucket has none): the old lease's return already charged the
      // reservation, so the delta reaches the inner store with the current lease's return,
      // exactly as a settle of its own would. This keeps long streams that outlive their
      // lease off the network.
      Entry* e = find(r.bucket);
      if (e != nullptr && e->lease.id != 0 &&
          (e->lease.id == r.lease || r.bucket.algorithm == Algorithm::TokenBucket ||
           e->lease.inner.windowStart == r.windowStart)) {
        e->lease.used = satAdd(e->lease.used, delta);
        continue;
      }
    }
    // Charged to the inner store, or to a lease already returned (and no current lease of its
    // window): the inner store settles it (the lease's window, the rules of an exact
    // reservation).
    forward.push_back(r);
    forward.back().lease = 0;
    forwardDeltas.push_back(delta);
  }
  if (!forward.empty()) {
    inner_->settle(forward, forwardDeltas, now);
  }
}

bool LeasedStore::peek(std::span<const BucketSpec> buckets, TimePoint now,
                       std::vector<BucketPeek>& out, std::function<void()> done) {
  return inner_->peek(buckets, now, out, std::move(done));
}

bool LeasedStore::reset(std::span<const BucketSpec> buckets, TimePoint now,
                        std::vector<BucketPeek>& out, std::function<void()> done) {
  for (const auto& b : buckets) {
    auto it = entries_.find(KeyView{b.key, b.algorithm, msOf(b)});
    if (it != entries_.end()) {
      entries_.erase(it);  // forgotten, not returned
    }
  }
  return inner_->reset(buckets, now, out, std::move(done));
}

bool LeasedStore::adjust(const BucketSpec& bucket, Adjust how, int64_t value, TimePoint now,
                         BucketPeek& out, std::function<void()> done) {
  return inner_->adjust(bucket, how, value, now, out, std::move(done));
}

milliseconds LeasedStore::tick(TimePoint now) {
  lastNow_ = std::max(lastNow_, now);
  const TimePoint forgetBefore = now - 10 * options_.ttl;
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = *it->second;
    if (e.lease.id != 0 && !usable(e, now)) {
      returnLease(e, now);
    }
    if (e.lease.id == 0 && !e.pending && e.lastUsed < forgetBefore) {
      it = entries_.erase(it);  // idle: its sizing history is not worth the memory
    } else {
      ++it;
    }
  }
  return std::max(milliseconds(10), options_.ttl / 4);
}

void LeasedStore::release(TimePoint now) {
  for (auto& [k, e] : entries_) {
    returnLease(*e, now);
  }
}

void LeasedStore::stop() {
  if (!stopped_) {
    release(lastNow_);  // the latest time this store ran at (injected clocks stay in charge)
    stopped_ = true;
  }
  inner_->stop();
}

}  // namespace tg::store
