#include "store/memory_quota.h"

namespace tg::store {

using core::MutexLock;

const char* quotaStatusName(QuotaStatus s) {
  switch (s) {
    case QuotaStatus::Ok:
      return "ok";
    case QuotaStatus::Unavailable:
      return "unavailable";
    case QuotaStatus::Invalid:
      return "invalid";
  }
  return "unknown";
}

bool MemoryQuotaStore::get(std::string_view consumer, QuotaResult& out, std::function<void()>) {
  out.reset();
  MutexLock lock(mu_);
  auto it = quotas_.find(consumer);
  if (it != quotas_.end()) {
    out.remaining = it->second;
  }
  return true;
}

bool MemoryQuotaStore::set(std::string_view consumer, int64_t value, QuotaResult& out,
                           std::function<void()>) {
  out.reset();
  MutexLock lock(mu_);
  auto it = quotas_.find(consumer);
  if (it == quotas_.end()) {
    it = quotas_.emplace(std::string(consumer), value).first;
  } else {
    it->second = value;
  }
  out.remaining = value;
  return true;
}

bool MemoryQuotaStore::add(std::string_view consumer, int64_t delta, QuotaResult& out,
                           std::function<void()>) {
  out.reset();
  MutexLock lock(mu_);
  auto it = quotas_.find(consumer);
  int64_t current = it == quotas_.end() ? 0 : it->second;
  int64_t next = 0;
  if (__builtin_add_overflow(current, delta, &next)) {
    out.status = QuotaStatus::Invalid;
    out.error = "increment or decrement would overflow";
    return true;
  }
  if (it == quotas_.end()) {
    quotas_.emplace(std::string(consumer), next);
  } else {
    it->second = next;
  }
  out.remaining = next;
  return true;
}

bool MemoryQuotaStore::remove(std::string_view consumer, QuotaResult& out,
                              std::function<void()>) {
  out.reset();
  MutexLock lock(mu_);
  auto it = quotas_.find(consumer);
  if (it != quotas_.end()) {
    quotas_.erase(it);
  }
  return true;
}

bool MemoryQuotaStore::check(std::string_view consumer, QuotaResult& out, std::function<void()>) {
  out.reset();
  MutexLock lock(mu_);
  auto it = quotas_.find(consumer);
  if (it != quotas_.end()) {
    out.remaining = it->second;
    out.allowed = it->second > 0;
  }
  return true;
}

void MemoryQuotaStore::charge(std::string_view consumer, int64_t tokens) {
  if (tokens <= 0) {
    return;
  }
  MutexLock lock(mu_);
  auto it = quotas_.find(consumer);
  if (it == quotas_.end()) {
    return;  // no quota = unlimited: never create one
  }
  int64_t next = 0;
  // Saturate instead of wrapping: a consumer deep in debt stays there.
  it->second = __builtin_sub_overflow(it->second, tokens, &next) ? INT64_MIN : next;
}

size_t MemoryQuotaStore::size() const {
  MutexLock lock(mu_);
  return quotas_.size();
}

}  // namespace tg::store
