#pragma once
// StoreStats: the metric families of the limit-store backends (STYLE.md §14), and the words
// they are labelled with. Registered once at start-up from the app's metrics::Registry; each
// backend (MemoryStore, redis::RedisStore) is handed a pointer in its options and records its
// own calls through a StoreRecorder:
//
//   tokengate_store_operations_total{store,op}          every call, counted (a relaxed add)
//   tokengate_store_duration_seconds{store,op}          latency, for the ops a backend times
//   tokengate_store_errors_total{store,op,error}        failed calls
//
// A backend declares which ops it times and which (op, error) pairs it can produce; only those
// series exist (created at 0 when the recorder is built, so rate() and absent() work before the
// first event). docs/metrics.md lists what each backend records.
//
// Thread safety: StoreStats and StoreRecorder are immutable after construction; recording is
// lock-free and safe from any thread. The registry must outlive both.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <utility>

#include "metrics/registry.h"

namespace tg::store {

enum class StoreKind : uint8_t { Memory, Redis, RedisCluster };
std::string_view storeKindName(StoreKind k);  // "memory", "redis", "redis_cluster"

enum class StoreOp : uint8_t { Reserve, Settle, Peek, Reset, Adjust };
inline constexpr size_t kStoreOps = 5;
std::string_view storeOpName(StoreOp o);  // "reserve", "settle", "peek", "reset", "adjust"

enum class StoreError : uint8_t {
  Full,         // MemoryStore: a new bucket was needed and its shard is full of live ones
  Timeout,      // Redis: no answer within the command timeout
  Unavailable,  // Redis: no connection (down, or failing fast while down)
  Protocol,     // Redis: the connection broke mid-answer or sent invalid RESP
  Reply,        // Redis: an error reply or an answer of the wrong shape (a script error)
};
inline constexpr size_t kStoreErrors = 5;
std::string_view storeErrorName(StoreError e);  // "full", "timeout", ..., "reply"

struct StoreStats {
  explicit StoreStats(metrics::Registry& registry);
  metrics::CounterFamily& operations;  // tokengate_store_operations_total
  metrics::HistogramFamily& duration;  // tokengate_store_duration_seconds
  metrics::CounterFamily& errors;      // tokengate_store_errors_total
};

// One backend's series, resolved once. Default-constructed (no stats): records nothing.
class StoreRecorder {
 public:
  StoreRecorder() = default;
  // `timed`: the ops whose latency the backend measures; `failing` x `kinds`: the (op, error)
  // pairs it can produce (their series start at 0). Every op is counted.
  StoreRecorder(StoreStats* stats, StoreKind kind, std::initializer_list<StoreOp> timed,
                std::initializer_list<StoreOp> failing, std::initializer_list<StoreError> kinds);

  void count(StoreOp op) const { ops_[index(op)].inc(); }
  void duration(StoreOp op, std::chrono::nanoseconds d) const {
    durations_[index(op)].observe(std::chrono::duration<double>(d).count());
  }
  void error(StoreOp op, StoreError e, uint64_t n = 1) const {
    if (n > 0) {
      errors_[index(op)][static_cast<size_t>(e)].inc(n);
    }
  }
  // Whether this recorder records anything (callers skip reading the clock otherwise).
  explicit operator bool() const { return static_cast<bool>(ops_[0]); }

 private:
  static size_t index(StoreOp op) { return static_cast<size_t>(op); }
  std::array<metrics::Counter, kStoreOps> ops_;
  std::array<metrics::Histogram, kStoreOps> durations_;
  std::array<std::array<metrics::Counter, kStoreErrors>, kStoreOps> errors_;
};

}  // namespace tg::store
