#pragma once
// MemoryQuotaStore: the QuotaStore of one gateway process (store/quota.h has the contract).
// Quotas live in a hash map behind one mutex: the map is touched once per request (check
// before forwarding, charge after the response) and by the admin API, a few hundred
// nanoseconds each, so one lock is not a bottleneck next to an LLM call; sharding it like
// MemoryStore would buy nothing measurable. Every operation completes inline.
//
// Thread-safe: every method may be called from any thread. Quotas are lost on restart (use the
// Redis store to keep them).

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/thread_annotations.h"
#include "store/quota.h"

namespace tg::store {

class MemoryQuotaStore final : public QuotaStore {
 public:
  MemoryQuotaStore() = default;
  MemoryQuotaStore(const MemoryQuotaStore&) = delete;
  MemoryQuotaStore& operator=(const MemoryQuotaStore&) = delete;

  // store::QuotaStore (all inline: `done` is never called)
  bool get(std::string_view consumer, QuotaResult& out, std::function<void()> done) override;
  bool set(std::string_view consumer, int64_t value, QuotaResult& out,
           std::function<void()> done) override;
  bool add(std::string_view consumer, int64_t delta, QuotaResult& out,
           std::function<void()> done) override;
  bool remove(std::string_view consumer, QuotaResult& out, std::function<void()> done) override;
  bool check(std::string_view consumer, QuotaResult& out, std::function<void()> done) override;
  void charge(std::string_view consumer, int64_t tokens) override;

  // Consumers that have a quota (for tests and diagnostics).
  size_t size() const;

 private:
  // Heterogeneous lookup by string_view (no std::string built per request).
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  mutable core::Mutex mu_;
  std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> quotas_ TG_GUARDED_BY(mu_);
};

}  // namespace tg::store
