#include "limiter/fair_queue.h"

#include <algorithm>
#include <cmath>

namespace tg::limiter {

FairQueue::Tag FairQueue::peekTag(std::string_view key) const {
  Tag t;
  t.start = vtime_;
  if (auto it = lastFinish_.find(std::string(key)); it != lastFinish_.end()) {
    t.start = std::max(vtime_, it->second);
  }
  t.seq = seq_ + 1;
  return t;
}

FairQueue::Tag FairQueue::push(std::string_view key, uint64_t cost, double weight, void* item) {
  auto [it, fresh] = lastFinish_.try_emplace(std::string(key), vtime_);
  Tag t;
  t.start = std::max(vtime_, it->second);
  t.seq = ++seq_;
  t.cost = cost;
  t.item = item;
  // A request of cost 0 still moves its key on a little, so that it cannot be served ahead of
  // everyone forever.
  it->second = t.start + static_cast<double>(std::max<uint64_t>(cost, 1)) / std::max(weight, 1e-3);
  tree_.insert(t);
  return t;
}

void FairQueue::erase(const Tag& t, bool served) {
  tree_.erase(t);
  if (served) {
    vtime_ = std::max(vtime_, t.start);
  }
  if (tree_.empty()) {
    lastFinish_.clear();
  }
}

uint64_t FairQueue::costBefore(const Tag& t) const { return tree_.before(t); }

uint64_t FairQueue::cost() const { return tree_.total(); }

std::chrono::milliseconds queueWait(const store::BucketSpec& bucket,
                                    std::chrono::milliseconds retryIn, uint64_t ahead,
                                    uint64_t amount) {
  using std::chrono::milliseconds;
  if (bucket.algorithm == store::Algorithm::Concurrency ||
      bucket.algorithm == store::Algorithm::Quota || bucket.limit == 0) {
    return retryIn;
  }
  if (ahead == 0) {
    return retryIn;
  }
  const double limit = static_cast<double>(bucket.limit);
  const double window = static_cast<double>(std::max<int64_t>(bucket.window.count(), 1));
  if (bucket.algorithm == store::Algorithm::FixedWindow) {
    // Served from the next window on, `limit` per window: the windows the units ahead and
    // this request's fill, the first starting at retryIn.
    const double windows = std::ceil(static_cast<double>(ahead + amount) / limit);
    return retryIn + milliseconds(static_cast<int64_t>((windows - 1) * window));
  }
  return retryIn +
         milliseconds(static_cast<int64_t>(std::ceil(static_cast<double>(ahead) * window / limit)));
}

std::chrono::milliseconds queueWaitBehind(const store::BucketSpec& bucket,
                                          std::chrono::milliseconds headIn, uint64_t headCost,
                                          uint64_t ahead, uint64_t amount) {
  if (bucket.algorithm == store::Algorithm::Concurrency ||
      bucket.algorithm == store::Algorithm::Quota || bucket.limit == 0) {
    return std::chrono::milliseconds(0);  // unknown
  }
  if (bucket.algorithm == store::Algorithm::FixedWindow) {
    return queueWait(bucket, headIn, ahead, amount);
  }
  const uint64_t rest = (ahead >= headCost ? ahead - headCost : 0) + amount;
  const double window = static_cast<double>(std::max<int64_t>(bucket.window.count(), 1));
  return headIn + std::chrono::milliseconds(static_cast<int64_t>(std::ceil(
                      static_cast<double>(rest) * window / static_cast<double>(bucket.limit))));
}

}  // namespace tg::limiter
