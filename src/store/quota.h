#pragma once
// QuotaStore: per-consumer token quotas, like Higress's `ai-quota` plugin. A quota is ONE
// remaining-token counter per consumer, kept in the configured store (MemoryQuotaStore in
// process, redis::RedisQuotaStore shared by every instance), read and changed by the admin API
// and enforced on the request path:
//
//   before forwarding   check(consumer): admitted while remaining > 0;
//   after the response  charge(consumer, tokens used): remaining -= tokens (may go negative:
//                       a request admitted with 10 tokens left that used 300 leaves -290, and
//                       the consumer stays blocked until an operator raises the quota);
//   operators           get / set / add (increase: delta > 0, decrease: delta < 0) / remove.
//
// No quota configured = unlimited: a consumer without a counter is always admitted, and
// charge() never creates one (so enabling quotas limits only the consumers an operator gave a
// quota to). add() on a consumer without a counter starts from 0 (Redis INCRBY semantics):
// increasing an unset quota by 1000 sets it to 1000.
//
// Asynchronous contract (as store::Store::reserveStart): every operation but charge() takes a
// QuotaResult& `out` and a `done` callback and returns true when it completed inline (`out`
// holds the answer and `done` is never called), false when it will complete later: `done` is
// then called exactly once, on the calling thread (the store's io_context thread for Redis),
// after `out` was written. `out` must stay valid until then. MemoryQuotaStore always completes
// inline (decidesInline() is true). charge() is fire-and-forget: it never waits and never
// reports (settlement is off the client's path, like store::Store::settle).
//
// Failures (Redis down or slow, a value in Redis that is not an integer, an overflow) answer
// `status != Ok` with an explanation in `error` and change nothing; check() then reports
// allowed = true (fail open, as the rate-limit store's default): a caller that must fail closed
// tests `status`.
//
// Thread safety: MemoryQuotaStore may be used from any thread; a RedisQuotaStore belongs to the
// thread of its io_context (one per worker, plus one for the admin server), like RedisStore.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tg::store {

enum class QuotaStatus : uint8_t {
  Ok,
  Unavailable,  // the store could not answer (Redis down, timeout, protocol error)
  Invalid,      // the stored value is not an integer, or the change would overflow int64
};
const char* quotaStatusName(QuotaStatus s);  // "ok", "unavailable", "invalid"

struct QuotaResult {
  QuotaStatus status = QuotaStatus::Ok;
  // The consumer's remaining tokens after the operation; nullopt when no quota is set for it
  // (get/check of an unset consumer, remove). Meaningful only when status is Ok.
  std::optional<int64_t> remaining;
  // check(): remaining > 0, or no quota set, or the store failed (fail open, see above).
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

class QuotaStore {
 public:
  virtual ~QuotaStore() = default;

  // The consumer's remaining tokens (nullopt: no quota = unlimited).
  virtual bool get(std::string_view consumer, QuotaResult& out, std::function<void()> done) = 0;
  // Sets the remaining tokens to `value` (any int64; the admin API accepts only >= 0).
  virtual bool set(std::string_view consumer, int64_t value, QuotaResult& out,
                   std::function<void()> done) = 0;
  // remaining += delta (increase when > 0, decrease when < 0), starting from 0 when unset.
  // `out.remaining` is the new value.
  virtual bool add(std::string_view consumer, int64_t delta, QuotaResult& out,
                   std::function<void()> done) = 0;
  // Removes the consumer's quota: unlimited again. `out.remaining` is nullopt.
  virtual bool remove(std::string_view consumer, QuotaResult& out,
                      std::function<void()> done) = 0;
  // Admission: `out.allowed` and `out.remaining` (nullopt = no quota).
  virtual bool check(std::string_view consumer, QuotaResult& out,
                     std::function<void()> done) = 0;
  // After the response: remaining -= tokens, only when the consumer has a quota. Tokens <= 0
  // is a no-op. Fire and forget.
  virtual void charge(std::string_view consumer, int64_t tokens) = 0;

  // True when every operation completes inline (the request path then never suspends).
  virtual bool decidesInline() const { return true; }

  // As Store::stop: close connections of its own once what was sent is answered.
  virtual void stop() {}
};

}  // namespace tg::store
