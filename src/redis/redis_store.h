#pragma once
// RedisStore: the store::Store whose buckets live in Redis (standalone or Cluster), shared by
// every gateway instance that points at the same Redis. One RedisStore per worker thread (its
// redis::Client is that thread's), all of them over the same keys.
//
//   batches  every reserve and settle is queued into a batch per cluster slot (one batch on
//            standalone Redis) and the batches are sent when the worker's event loop gets to
//            the flush posted by the first operation queued: operations issued in the same
//            turn of the loop travel together, at no added wait. A batch is ONE EVALSHA of the
//            batch script (scripts.h), atomic in Redis, which runs its operations in order
//            exactly as separate runs would, reading and writing each bucket once: Redis's
//            cost per request falls with load instead of rising. A batch holds at most
//            kMaxBatchOps operations; a fuller one is sent at once.
//   reserve  reserveStart(): the buckets are grouped by cluster slot (scripts.h hash tags: the
//            buckets of one selector value share a slot); each group is one operation of its
//            slot's batch. One group (always, on standalone Redis; usually, on a cluster) = one
//            round trip. Several groups are reserved one after the other and a rejection rolls
//            the earlier groups back (settle with -charged): a correct all-or-nothing across
//            slots, at one round trip per slot.
//   settle   queued like a reserve and not waited for: settlement is off the client's path. A
//            settle rides with the next reserve's batch, or goes on its own after at most
//            kSettleDelay (1 ms) when no reserve comes: a stream's settlement then costs Redis
//            no run of its own. A settle lost to a Redis failure is counted (stats) and logged
//            at most once per outage by the client.
//   time     every script runs on the Redis server's clock (TIME), so gateway instances with
//            skewed clocks agree on windows; the `now` passed in is not used.
//   operators peek runs the peek script (scripts.h) per bucket, reset is a DEL per bucket
//            (redis_store_ops.cc), each sent at once and answered when the last reply is in.
//   quotas   Algorithm::Quota buckets are not packed bucket values but plain integer strings
//            under <keyPrefix>quota:{<consumer>}, as Higress's ai-quota keeps them (so both
//            may share them, and operators may `GET tg:quota:{alice}` with redis-cli): a
//            reserve is a GET (admitted while the value is > 0 or the key is missing), a settle
//            an EVALSHA that DECRBYs only an existing key (a charge never creates a quota),
//            adjust a SET or INCRBY/DECRBY, reset a DEL. A Redis error reply or a value that
//            is not an integer answers StoreStatus::Invalid to operators (StoreError to a
//            reserve).
//   failure  a batch that fails (timeout, Redis down: the client fails fast while down,
//            Protocol, a script error) answers Verdict::StoreError for every bucket of each of
//            its reserves and charges nothing; the limiter applies each policy's failure mode
//            (open / closed / local).
//
// reserveInto (the inline form) cannot wait for the network: it answers StoreError at once.
// The request path uses reserveStart (decidesInline() is false).

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "redis/client.h"
#include "store/stats.h"
#include "store/store.h"

namespace tg::redis {

struct RedisStoreOptions {
  Options client;
  std::string keyPrefix = "tg:";  // before every bucket key; must not contain '{'
  // Metrics (store/stats.h): every call counted; reserve, peek and reset timed (call to
  // answer; settles are not waited for); errors by kind. Null = none. Must outlive the store.
  store::StoreStats* stats = nullptr;
};

// Counters as data, per RedisStore (per worker).
struct RedisStoreStats {
  uint64_t reserves = 0;        // reserveStart calls
  uint64_t reserveOps = 0;      // reserve operations queued (> reserves when requests span slots)
  uint64_t reserveErrors = 0;   // reserves answered StoreError
  uint64_t settles = 0;         // settle operations queued (one per slot group of a settle call)
  uint64_t settleErrors = 0;    // settle operations in batches that failed
  uint64_t batches = 0;         // batch script runs sent (round trips)
};

class RedisStore final : public store::Store {
 public:
  static constexpr size_t kMaxBatchOps = 64;
  static constexpr std::chrono::milliseconds kSettleDelay{1};

  RedisStore(boost::asio::any_io_executor ex, RedisStoreOptions options);
  ~RedisStore() override;

  // store::Store
  void reserveInto(std::span<const store::BucketSpec> buckets, std::span<const int64_t> amounts,
                   store::ReserveMode mode, store::TimePoint now,
                   store::ReserveResult& out) override;
  bool reserveStart(std::span<const store::BucketSpec> buckets, std::span<const int64_t> amounts,
                    store::ReserveMode mode, store::TimePoint now, store::ReserveResult& out,
                    std::function<void()> done) override;
  bool decidesInline() const override { return false; }
  void settle(std::span<const store::Reservation> reservations, std::span<const int64_t> deltas,
              store::TimePoint now) override;
  // Sends the queued batches now, then closes the client once they are answered.
  void stop() override;

  // Operators (redis_store_ops.cc): never inline; `done` is not called once the store is
  // destroyed.
  bool peek(std::span<const store::BucketSpec> buckets, store::TimePoint now,
            std::vector<store::BucketPeek>& out, std::function<void()> done) override;
  bool reset(std::span<const store::BucketSpec> buckets, store::TimePoint now,
             std::vector<store::BucketPeek>& out, std::function<void()> done) override;
  bool adjust(const store::BucketSpec& bucket, Adjust how, int64_t value, store::TimePoint now,
              store::BucketPeek& out, std::function<void()> done) override;

  Health health() const { return client_.health(); }
  const RedisStoreStats& stats() const { return stats_; }
  Client& client() { return client_; }

 private:
  struct ReserveOp;
  struct Pending;
  // Quota buckets (redis_store_ops.cc).
  bool reserveQuota(std::span<const store::BucketSpec> buckets, store::ReserveResult& out,
                    std::function<void()> done);
  void settleQuota(const store::Reservation& reservation, int64_t delta);
  // Every bucket of `out` answered StoreError, nothing charged (the state of a reserve that has
  // no answer yet, or failed).
  static void fillError(std::span<const store::BucketSpec> buckets, store::ReserveResult& out);
  void runGroup(const std::shared_ptr<ReserveOp>& op);
  void finish(const std::shared_ptr<ReserveOp>& op);
  void failAll(const std::shared_ptr<ReserveOp>& op, store::StoreError error);
  void recordReserve(const ReserveOp& op, const store::StoreError* error) const;
  // One operator or quota call (redis_store_ops.cc): counted when it starts; when its answer
  // arrives (and the store is still alive), done() records its latency and, if it failed, its
  // kind (the client's status, or Reply for an error reply).
  struct Call {
    const store::StoreRecorder* rec;
    store::StoreOp op;
    std::chrono::steady_clock::time_point start;
    void done(Status s, const Reply& r) const;
  };
  Call startCall(store::StoreOp op) const;
  Pending& pendingFor(uint16_t slot);
  void queued(Pending& p, bool waited);
  void flush();
  void send(Pending& p);

  RedisStoreOptions options_;
  boost::asio::any_io_executor ex_;
  Client client_;
  Script batchScript_;
  Script peekScript_;
  Script quotaChargeScript_;
  std::vector<std::unique_ptr<Pending>> pending_;  // batches being filled, by slot
  bool flushPosted_ = false;
  boost::asio::steady_timer settleTimer_;
  bool timerArmed_ = false;
  RedisStoreStats stats_;
  store::StoreRecorder recorder_;
  std::shared_ptr<std::atomic<bool>> alive_;
};

}  // namespace tg::redis
