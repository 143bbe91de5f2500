#pragma once
// AdmissionQueues: where requests wait for a rate limit instead of being refused (a policy's
// `on_limit: queue`). One fair queue per bucket (by bucket key) for the whole process, shared
// by every worker; a queue exists only while requests wait in it.
//
// The protocol, for one request rejected by bucket B of a queueing policy:
//   join()     it enters B's queue (limiter::FairQueue: start-time fair queueing over the
//              tokens it reserves, weighted by its tier's priority), or is refused at once:
//              the queue holds max_queued waiters (Full), or the wait computed from B's refill
//              rate and the tokens queued ahead of it (limiter::queueWait; for a request that
//              joined without trying, queueWaitBehind from the head's refill time) is over
//              max_wait (TooLong, with that wait as the exact retry-after).
//   wait()     suspends until it is this waiter's turn to try admission again, until max_wait
//              passed (Timeout), or until the client closed its connection (Gone).
//   tried()    after the try: admitted, it leaves the queue served (the next waiter's turn
//              comes at once); rejected again, it stays the head and its next turn comes
//              when B has refilled for it (the store's retryIn), or on notify().
//   leave()    gives up (timeout, client gone, rejected by another bucket): charged nothing.
// Turns go to the head of the queue only, so refilled tokens go to waiters in fair order.
// A new request for a bucket that has waiters joins the queue instead of trying first
// (has()), so it cannot take the refill from the waiters.
//
// notify(): tokens came back to a bucket (a request settled below its reservation, or a
// concurrency slot was released): its head tries at once. With Redis, other instances' settles
// are not seen; their head retries at the refill instant the store computed (no polling).
//
// Cost: idle() is one relaxed atomic load (the request path's whole cost while nobody waits);
// join, tried and leave are O(log n) in the bucket's waiters, under one mutex.
//
// Thread safety: every member is safe from any thread. A waiter is woken on its own executor
// (asio::post), so its coroutine always resumes on its connection's thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/thread_annotations.h"
#include "http/net.h"
#include "io/byte_stream.h"
#include "limiter/fair_queue.h"
#include "store/bucket.h"

namespace tg::proxy {

class AdmissionQueues {
 public:
  using Clock = std::chrono::steady_clock;

  // What a waiter asks: the bucket that refused it and how to queue.
  struct Ask {
    const store::BucketSpec* bucket = nullptr;  // the refusing bucket (key, algorithm, limit)
    std::string_view fairKey;                   // consumer, or client address
    double weight = 1;                          // the tier's priority (>= 1e-3)
    uint64_t cost = 0;                          // what it reserves from the bucket
    std::chrono::milliseconds retryIn{0};       // the store's answer for it alone (0 unknown)
    size_t maxQueued = 1024;
    std::chrono::milliseconds maxWait{30'000};
  };
  enum class Refusal : uint8_t { None, Full, TooLong };
  struct Waiter;
  struct Joined {
    std::shared_ptr<Waiter> waiter;  // null when refused
    Refusal refused = Refusal::None;
    std::chrono::milliseconds wait{0};  // the estimated wait (TooLong: the retry-after)
  };
  Joined join(const Ask& ask, http::net::any_io_executor ex);

  enum class Wake : uint8_t { Turn, Timeout, Gone };
  // Waits for the waiter's turn. `watch`: the client's stream, watched for a disconnect while
  // waiting (null = not watched; io::ByteStream::watchReadable).
  http::Task<Wake> wait(const std::shared_ptr<Waiter>& w, io::ByteStream* watch);
  // After a try: `admitted` leaves served; else the next turn after `retryIn` (0 = on notify or
  // at the deadline).
  void tried(Waiter& w, bool admitted, std::chrono::milliseconds retryIn);
  void leave(Waiter& w);
  // Stops watching the client stream (cancels the watch; call before using the stream again).
  static void unwatch(Waiter& w);

  // Whether any request waits anywhere (cheap).
  bool idle() const { return waiters_.load(std::memory_order_relaxed) == 0; }
  // Whether requests wait for this bucket.
  bool has(std::string_view bucketKey) const;
  void notify(std::string_view bucketKey);

  size_t waiting() const { return waiters_.load(std::memory_order_relaxed); }

 private:
  struct Queue;
  void grant(Queue& q) TG_REQUIRES(mu_);
  void remove(Waiter& w, bool served) TG_REQUIRES(mu_);

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  mutable core::Mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Queue>, Hash, std::equal_to<>> queues_
      TG_GUARDED_BY(mu_);
  std::atomic<size_t> waiters_{0};
};

}  // namespace tg::proxy
