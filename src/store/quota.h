#pragma once
// Quotas: per-consumer token quotas, like Higress's `ai-quota` plugin, as buckets of the one
// store::Store (Algorithm::Quota, store/bucket.h): a quota is ONE remaining-token counter per
// consumer, read and changed by the admin API and enforced on the request path:
//
//   before forwarding   quotaCheck(consumer): admitted while remaining > 0;
//   after the response  quotaCharge(consumer, tokens used): remaining -= tokens (may go
//                       negative: a request admitted with 10 tokens left that used 300 leaves
//                       -290, and the consumer stays blocked until an operator raises it);
//   operators           quotaGet / quotaSet / quotaAdd (increase: delta > 0, decrease:
//                       delta < 0) / quotaRemove.
//
// No quota configured = unlimited: a consumer without a counter is always admitted, and a
// charge never creates one (so enabling quotas limits only the consumers an operator gave a
// quota to). quotaAdd on a consumer without a counter starts from 0 (Redis INCRBY semantics):
// increasing an unset quota by 1000 sets it to 1000.
//
// These functions are a thin translation (consumer -> Quota BucketSpec, BucketPeek /
// ReserveResult -> QuotaResult) over Store::peek / adjust / reset / reserveStart / settle; the
// counters live in whatever store is given (MemoryStore in process, RedisStore shared by every
// instance, under the Redis key <key_prefix>quota:{<consumer>} as a plain integer, the key
// Higress's ai-quota uses).
//
// Asynchronous contract (as Store::reserveStart): every function but quotaCharge takes a
// QuotaResult& `out` and a `done` callback and returns true when it completed inline (`out`
// holds the answer and `done` is never called), false when it will complete later: `done` is
// then called exactly once, on the calling thread, after `out` was written. `out` must stay
// valid until then. quotaCharge is fire-and-forget, like Store::settle.
//
// Failures (Redis down or slow, a value in Redis that is not an integer, an overflow, a full
// memory store) answer `status != Ok` with an explanation in `error` and change nothing;
// quotaCheck then reports allowed = true (fail open, as the rate-limit store's default): a
// caller that must fail closed tests `status`.
//
// Thread safety: as the store's (MemoryStore: any thread; RedisStore: its io_context's thread).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "store/store.h"

namespace tg::store {

using QuotaStatus = StoreStatus;
inline const char* quotaStatusName(QuotaStatus s) { return storeStatusName(s); }

struct QuotaResult {
  QuotaStatus status = QuotaStatus::Ok;
  // The consumer's remaining tokens after the operation; nullopt when no quota is set for it
  // (get/check of an unset consumer, remove). Meaningful only when status is Ok.
  std::optional<int64_t> remaining;
  // check: remaining > 0, or no quota set, or the store failed (fail open, see above).
  bool allowed = true;
  std::string error;  // status != Ok: what went wrong, for logs and the admin API

  bool ok() const { return status == QuotaStatus::Ok; }
  void reset() {
    status = QuotaStatus::Ok;
    remaining.reset();
    allowed = true;
    error.clear();
  }
};

// The bucket of a consumer's quota: key = the consumer's name, Algorithm::Quota.
BucketSpec quotaBucket(std::string_view consumer);

// The consumer's remaining tokens (nullopt: no quota = unlimited).
bool quotaGet(Store& store, std::string_view consumer, QuotaResult& out,
              std::function<void()> done);
// Sets the remaining tokens to `value` (any int64; the admin API accepts only >= 0).
bool quotaSet(Store& store, std::string_view consumer, int64_t value, QuotaResult& out,
              std::function<void()> done);
// remaining += delta, starting from 0 when unset. `out.remaining` is the new value.
bool quotaAdd(Store& store, std::string_view consumer, int64_t delta, QuotaResult& out,
              std::function<void()> done);
// Removes the consumer's quota: unlimited again. `out.remaining` is nullopt.
bool quotaRemove(Store& store, std::string_view consumer, QuotaResult& out,
                 std::function<void()> done);
// Admission: `out.allowed` and `out.remaining` (nullopt = no quota).
bool quotaCheck(Store& store, std::string_view consumer, QuotaResult& out,
                std::function<void()> done);
// After the response: remaining -= tokens, only when the consumer has a quota. tokens <= 0 is
// a no-op. Fire and forget.
void quotaCharge(Store& store, std::string_view consumer, int64_t tokens, TimePoint now);

}  // namespace tg::store
