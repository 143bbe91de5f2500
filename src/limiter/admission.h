#pragma once
// Admission: one request's way through the limiter, from the matched buckets to the settled
// usage. Pure apart from the Store it is handed (no Asio, no sockets, no clock reads: the
// caller passes wall time), so tests drive it with a MemoryStore and a ManualClock.
//
//   admit()   matches the request (limiter/rules.h), sizes each bucket's amount (the policy's
//             reservation for tokens, 1 for requests and concurrency) and reserves them ALL OR
//             NOTHING. Buckets fall into up to four groups by (reserve mode, shadow); a store
//             call takes one mode, so the groups are reserved one after the other:
//               1. enforced, strict (ReserveMode::Reserve)
//               2. enforced, Higress-compatible (ReserveMode::CheckOnly)
//               3. shadow, strict    4. shadow, Higress-compatible
//             A rejection in group 2 rolls group 1 back (settle with -charged), so the request
//             is still all-or-nothing. Shadow groups are reserved only once the enforced ones
//             admitted; a shadow rejection lets the request through (Outcome::ShadowRejected)
//             and its buckets are charged the real usage at settle, so they keep counting.
//   settle()  replaces every reservation by the real amount (limiter/reservation.h
//             settlementDelta), EXACTLY ONCE: later calls are no-ops, so every exit path of the
//             request may call it.
//   headers   x-ratelimit-* of the most constrained token bucket (unit "tokens") and request
//             bucket ("requests"); on a rejection also the retry headers (limiter/headers.h).
//
// Store failures (Verdict::StoreFull/StoreError: Redis down or slow, MemoryStore full): each
// bucket of the failed group follows its policy's `storeFailure` mode. Any Closed bucket rejects
// the request (Outcome::StoreUnavailable, 503 upstream of the caller); Local buckets are
// reserved in the gateway's own in-memory store instead, their limits scaled by localShare (a
// rejection there is a normal rejection); Open buckets are skipped. The request is then
// admitted as Outcome::StoreFailure (counted and logged).
//
// Two ways to drive it:
//   * admit(): everything inline, for stores that decide inline (MemoryStore) and tests;
//   * the request path, which must not block on a networked store:
//       begin(...);                                  // match + size
//       while (auto call = next()) {                 // one store call per group
//         if (!store.reserveStart(call->buckets, call->amounts, call->mode, now, *call->out,
//                                 done)) { await done; }
//         reserved(store, local, now);               // evaluate, fall back, roll back
//       }
//
// One Admission per connection, reused request after request: its vectors keep their
// capacity, so a warm admission allocates only what the store copies.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "limiter/policy.h"
#include "limiter/rules.h"
#include "store/store.h"

namespace tg::limiter {

// What the request asks for, from token accounting's inspection of its body.
struct Demand {
  uint64_t promptEstimate = 0;
  std::optional<uint64_t> maxTokens;  // the request's output cap, if it set one
};

enum class Outcome : uint8_t {
  NoLimits,          // no bucket applies
  Allowed,           // every bucket admitted
  ShadowRejected,    // a shadow bucket would have rejected; the request goes on
  Rejected,          // over a limit or blocked by a penalty: retryable
  TooLarge,          // larger than a whole limit: never retry
  StoreFailure,      // the store could not decide; admitted (open / local policies)
  StoreUnavailable,  // the store could not decide and a policy is `closed`: 503
};
std::string_view outcomeName(Outcome o);  // "none", "allowed", "shadow_rejected", ...
// Every name a counted request can have (all outcomes but "none"): the metrics' vocabulary.
std::vector<std::string> decisionNames();

class Admission {
 public:
  // All steps inline (store.reserveInto). `local`: the fallback store of Local policies
  // (nullptr: none, Local then behaves as Open).
  Outcome admit(const PolicySet& set, store::Store& store, DistinctKeyCap* cap,
                const RequestFacts& facts, const Demand& demand, store::TimePoint now,
                store::Store* local = nullptr);

  // Step API (see the header comment). begin() returns false when no bucket applies.
  bool begin(const PolicySet& set, DistinctKeyCap* cap, const RequestFacts& facts,
             const Demand& demand, store::TimePoint now);
  struct ReserveCall {
    std::span<const store::BucketSpec> buckets;
    std::span<const int64_t> amounts;
    store::ReserveMode mode;
    store::ReserveResult* out;
  };
  // The next store call to make, or nullopt when the request is decided.
  std::optional<ReserveCall> next();
  // After the call from next() completed (its result is in *out): evaluates it.
  void reserved(store::Store& store, store::Store* local, store::TimePoint now);
  // After begin(): every next() call on a store that decides inline (admit() is begin() and
  // this).
  void decideInline(store::Store& store, store::Store* local, store::TimePoint now);

  Outcome outcome() const { return outcome_; }
  // The request must be answered by the gateway (429 / too large / 503).
  bool rejected() const {
    return outcome_ == Outcome::Rejected || outcome_ == Outcome::TooLarge ||
           outcome_ == Outcome::StoreUnavailable;
  }

  // The bucket that decided a rejection or shadow rejection; nullptr otherwise.
  const MatchedBucket* decisive() const;
  // The state of that bucket (limit, remaining) for the rejection message.
  const store::BucketState* decisiveState() const;
  // Amount the decisive bucket asked for.
  int64_t decisiveAmount() const;
  // The decisive bucket as an index into matched() (decisive() must not be null).
  size_t decisiveIndex() const { return groups_[decisiveGroup_].index[decisiveInGroup_]; }
  // Rejections: how long until the request would fit (0 = unknown or never).
  std::chrono::milliseconds retryIn() const { return retryIn_; }
  // A rejection's retry time as the caller knows it better (the admission queue's wait for
  // the requests ahead): the retry headers say `t` instead.
  void setRetryIn(std::chrono::milliseconds t) { retryIn_ = t; }
  // `clamp_max_tokens`: the output tokens the request may still produce by the token buckets
  // of such policies it was admitted by (enforced, strict): the least, over them, of what is
  // left after this reservation plus the output part of the reservation itself (weighted
  // buckets: divided by the output weight). nullopt when no such bucket admitted it.
  std::optional<uint64_t> outputBudget() const;
  // The amount matched bucket `i` asks for (0 when it is not in this request).
  int64_t amountOf(size_t matchedIndex) const;
  // The buckets of the last begin()/admit() (metrics record their policies and rules).
  const std::vector<MatchedBucket>& matched() const { return buckets_; }
  // Largest token amount reserved by an enforced bucket (the access log's reserved_tokens).
  int64_t reservedTokens() const { return reservedTokens_; }

  // Stream enforcement (policies with `enforce: stream`, admission_stream.cc). The followed
  // buckets are this request's token buckets of such policies that were reserved, enforced
  // and strict, in the primary store (not shadow ones, not Higress check-only ones, not the
  // local fallback). As a streamed response is relayed, the caller asks topUp() before each
  // block with the usage the request will have consumed once that block is relayed (`sofar`:
  // the prompt estimate and the output so far plus the block) and `ahead` output tokens of
  // headroom (capped at a quarter of what the buckets had left when last seen, so a stream
  // near the limit does not hold what other requests could be admitted with). While the
  // followed reservations cover `sofar`, topUp() returns nullopt and the block goes out. Otherwise it returns one Reserve call (in Reserve mode, every followed
  // bucket that `sofar + ahead` would overrun, by what it lacks; penalties off: running out
  // mid-stream is not abuse) for the store followStore(); after it, toppedUp() says whether
  // the reservations now cover `sofar + ahead` (Covered), the store refused (Refused: retry
  // with a smaller `ahead`, or end the stream), or could not decide (StoreFailed: the
  // policies' store_failure mode decides, followClosedOnFailure()).
  // Top-ups stay charged where they were reserved; settle() takes them off the first
  // reservation's delta, so the total charged is the real usage, as without top-ups.
  enum class TopUp : uint8_t { Covered, Refused, StoreFailed };
  bool followsStream();
  std::optional<ReserveCall> topUp(const core::TokenUsage& sofar, uint64_t ahead);
  TopUp toppedUp();
  store::Store* followStore() const { return groups_[0].store; }
  bool followClosedOnFailure() const;
  void stopFollowing() { follow_.on = false; }
  uint64_t topUps() const { return follow_.calls; }
  // The followed bucket that refused the last top-up; nullptr when none refused.
  const MatchedBucket* followRefusedBy() const;

  // Appends "Name: value\r\n" header lines for the client (see the header comment).
  void appendHeaders(std::string& out) const;

  // Settles with the request's real (or estimated) token counts. Exactly once; a no-op when
  // nothing was reserved, after a rejection, or when already settled.
  // Each group settles in the store it was reserved in (the primary, or the local fallback).
  void settle(const core::TokenUsage& actual, store::TimePoint now);
  bool settled() const { return settled_; }

 private:
  // Groups 0-3: (enforced|shadow) x (strict|check-only); group 4: the local fallback.
  static constexpr size_t kGroups = 5;
  static constexpr size_t kLocal = 4;
  struct Group {
    std::vector<size_t> index;             // into buckets_
    std::vector<store::BucketSpec> specs;  // first index.size() are this request's
    std::vector<int64_t> amounts;
    store::ReserveMode mode = store::ReserveMode::Reserve;
    store::ReserveResult result;
    store::Store* store = nullptr;  // where its reservations live, once reserved
    bool reserved = false;          // its reservations need settling
  };
  void addToGroup(Group& g, size_t bucket, const store::BucketSpec& spec, int64_t amount);
  void decideFailure(size_t gi, store::Store* local, store::Store* primary, store::TimePoint now);
  void rejectWith(size_t gi, Outcome o, store::TimePoint now);
  void rollBack(store::TimePoint now);
  void collectStates(const Group& g, std::vector<store::BucketState>& tokens,
                     std::vector<store::BucketState>& requests) const;

  // Stream enforcement state (admission_stream.cc); reset by begin().
  struct Follow {
    bool built = false;
    bool on = false;
    std::vector<size_t> at;        // followed buckets, as indexes into groups_[0]
    std::vector<int64_t> covered;  // per followed bucket: charged at admission + topped up
    std::vector<int64_t> extra;    // per groups_[0] bucket: topped up (settle takes it off)
    int64_t remaining = INT64_MAX;  // least remaining of the followed buckets, last seen
    std::vector<size_t> calling;   // per amount of the pending call: index into `at`
    std::vector<store::BucketSpec> specs;
    std::vector<int64_t> amounts;
    store::ReserveResult result;
    uint64_t calls = 0;
  };
  Follow follow_;

  const PolicySet* set_ = nullptr;
  Demand demand_;
  std::vector<MatchedBucket> buckets_;
  std::array<Group, kGroups> groups_;
  std::vector<int64_t> deltas_;
  mutable std::vector<store::BucketState> tokenStates_;    // appendHeaders scratch
  mutable std::vector<store::BucketState> requestStates_;  // appendHeaders scratch
  Outcome outcome_ = Outcome::NoLimits;
  size_t nextGroup_ = 0;      // next group next() considers
  size_t pending_ = kGroups;  // group handed out by next(), awaiting reserved()
  size_t decisiveGroup_ = 0;
  size_t decisiveInGroup_ = 0;
  bool hasDecisive_ = false;
  std::chrono::milliseconds retryIn_{0};
  int64_t reservedTokens_ = 0;
  bool settled_ = true;
};

}  // namespace tg::limiter
