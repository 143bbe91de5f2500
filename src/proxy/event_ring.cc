#include "proxy/event_ring.h"

#include <algorithm>

namespace tg::proxy {

EventRing::EventRing(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {
  core::MutexLock lock(mu_);
  slots_.resize(capacity_);
}

uint64_t EventRing::push(std::string_view jsonObject) {
  while (!jsonObject.empty() && (jsonObject.back() == '\n' || jsonObject.back() == '\r')) {
    jsonObject.remove_suffix(1);
  }
  core::MutexLock lock(mu_);
  const uint64_t seq = ++last_;
  slots_[(seq - 1) % capacity_].assign(jsonObject);
  return seq;
}

uint64_t EventRing::last() const {
  core::MutexLock lock(mu_);
  return last_;
}

std::string EventRing::json(uint64_t after) const {
  std::string out = "{\"events\":[";
  core::MutexLock lock(mu_);
  if (after > last_) {
    after = 0;
  }
  const uint64_t oldest = last_ > capacity_ ? last_ - capacity_ + 1 : 1;
  bool first = true;
  for (uint64_t seq = std::max(after + 1, oldest); seq <= last_; ++seq) {
    const std::string& line = slots_[(seq - 1) % capacity_];
    if (line.size() < 2 || line.front() != '{') {
      continue;  // not an object: never stored by observe.cc, skipped rather than emitted broken
    }
    out += first ? "{\"seq\":" : ",{\"seq\":";
    first = false;
    out += std::to_string(seq);
    if (line != "{}") {
      out += ',';
      out.append(line, 1, std::string::npos);
    } else {
      out += '}';
    }
  }
  out += "],\"next\":" + std::to_string(last_) + "}\n";
  return out;
}

EventRing& rateLimitEvents() {
  static EventRing ring(kRateLimitEventCapacity);
  return ring;
}

}  // namespace tg::proxy
