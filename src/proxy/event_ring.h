#pragma once
// EventRing: the most recent rate-limit events, kept in memory for the admin API's live tail
// (GET /admin/events, docs/admin.md "Console"). Each event is one JSON object, the same line
// the rate-limit log writes (access_log.h formatRateLimitRecord), numbered by a sequence that
// starts at 1 and grows by one per push. The ring holds the last `capacity` events; older ones
// are overwritten (a reader that falls behind sees a gap in the sequence, never a stale or torn
// event).
//
// Thread safety: every member is safe for concurrent use (workers push, the admin thread
// reads); one mutex, held for a copy of one line (push) or of the ring (json).
//
// rateLimitEvents() is the process-wide ring that proxy/observe.cc feeds for every request the
// limiter or a quota did not simply allow, whether or not the rate-limit log file is enabled.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/thread_annotations.h"

namespace tg::proxy {

class EventRing {
 public:
  explicit EventRing(size_t capacity);
  EventRing(const EventRing&) = delete;
  EventRing& operator=(const EventRing&) = delete;

  // Stores `jsonObject` (one JSON object, "{...}"; a trailing newline is dropped) as the next
  // event. Returns its sequence number.
  uint64_t push(std::string_view jsonObject);

  // The sequence number of the newest event (0: none yet).
  uint64_t last() const;

  // {"events":[{"seq":N,...},...],"next":M}: the stored events with seq > `after`, oldest
  // first, and M = the newest seq (pass it as `after` next time). An `after` beyond the newest
  // seq (the process restarted) is taken as 0, so a reader never waits forever.
  std::string json(uint64_t after) const;

 private:
  const size_t capacity_;
  mutable core::Mutex mu_;
  std::vector<std::string> slots_ TG_GUARDED_BY(mu_);  // seq s lives at (s - 1) % capacity_
  uint64_t last_ TG_GUARDED_BY(mu_) = 0;
};

// The process-wide ring of rate-limit events: the last 256.
EventRing& rateLimitEvents();
inline constexpr size_t kRateLimitEventCapacity = 256;

}  // namespace tg::proxy
