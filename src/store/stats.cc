#include "store/stats.h"

#include <vector>

namespace tg::store {

namespace {

// A memory-store call is ~100 ns, a Redis round trip ~100 us to a few ms.
// (Built on use: a registration from a static initialiser elsewhere must not see it empty.)
std::vector<double> storeSecondsBounds() {
  return {0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
          0.01,    0.025,   0.05,   0.1,     0.25,   0.5,   1};
}

constexpr uint32_t kMaxStoreSeries = 64;  // store, op (x5 with error)

// The names by enumerator value (the enums are dense, from 0).
constexpr std::string_view kKindNames[] = {"memory", "redis", "redis_cluster"};
constexpr std::string_view kOpNames[kStoreOps] = {"reserve", "settle", "peek", "reset",
                                                  "adjust"};
constexpr std::string_view kErrorNames[kStoreErrors] = {"full", "timeout", "unavailable",
                                                        "protocol", "reply"};

}  // namespace

std::string_view storeKindName(StoreKind k) { return kKindNames[static_cast<size_t>(k)]; }
std::string_view storeOpName(StoreOp o) { return kOpNames[static_cast<size_t>(o)]; }
std::string_view storeErrorName(StoreError e) { return kErrorNames[static_cast<size_t>(e)]; }

StoreStats::StoreStats(metrics::Registry& r)
    : operations(r.counter({"tokengate_store_operations_total",
                            "Limit-store calls, by store and operation.",
                            {"store", "op"},
                            kMaxStoreSeries})),
      duration(r.histogram({"tokengate_store_duration_seconds",
                            "Latency of limit-store calls, by store and operation.",
                            {"store", "op"},
                            kMaxStoreSeries},
                           storeSecondsBounds())),
      errors(r.counter({"tokengate_store_errors_total",
                        "Failed limit-store calls, by store, operation and error.",
                        {"store", "op", "error"},
                        kMaxStoreSeries * kStoreErrors})) {}

StoreRecorder::StoreRecorder(StoreStats* stats, StoreKind kind,
                             std::initializer_list<StoreOp> timed,
                             std::initializer_list<StoreOp> failing,
                             std::initializer_list<StoreError> kinds) {
  if (stats == nullptr) {
    return;
  }
  const std::string_view store = storeKindName(kind);
  for (size_t o = 0; o < kStoreOps; ++o) {
    ops_[o] = stats->operations.labels({store, storeOpName(static_cast<StoreOp>(o))});
  }
  for (const StoreOp op : timed) {
    durations_[index(op)] = stats->duration.labels({store, storeOpName(op)});
  }
  for (const StoreOp op : failing) {
    for (const StoreError e : kinds) {
      errors_[index(op)][static_cast<size_t>(e)] =
          stats->errors.labels({store, storeOpName(op), storeErrorName(e)});
    }
  }
}

}  // namespace tg::store
