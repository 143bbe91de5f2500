#pragma once
// FairQueue: the order in which waiting requests are served, fair by tokens across keys
// (consumers, or client addresses for anonymous callers), weighted. Pure data: no clock, no
// locks, no I/O; the async queues around it (proxy/admission_queue.h, proxy/upstream_gate.h)
// hold it under their own mutex.
//
// Start-time fair queueing (Goyal et al., SFQ). A waiter of key k asking `cost` with weight w
// gets the virtual start tag S = max(V, F_k) and key k's finish tag becomes F_k = S + cost / w,
// where V, the queue's virtual time, is the start tag of the last waiter served. Waiters are
// served in (S, arrival) order. A key that sends many requests therefore lines up behind the
// others in proportion to the tokens it asks for, and a key of weight 4 gets four times the
// tokens of a key of weight 1 while both wait. F_k is forgotten when the queue empties (the
// per-key map stays bounded by the waiters).
//
// costBefore(tag): the tokens of the waiters served before a tag, in O(log n), for the wait
// estimate of a newcomer (queueWait below). Every operation is O(log n): an order-statistics
// red-black tree (libstdc++'s policy-based tree) whose nodes also keep their subtree's cost.

#include <chrono>
#include <cstdint>
#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>
#include <string>
#include <string_view>
#include <unordered_map>

#include "store/bucket.h"

namespace tg::limiter {

class FairQueue {
 public:
  // A waiter's place: its start tag and arrival number (unique), with what it asks.
  struct Tag {
    double start = 0;
    uint64_t seq = 0;
    uint64_t cost = 0;
    void* item = nullptr;  // the caller's waiter
  };

  // Adds a waiter; returns its place (keep it to erase the waiter later).
  Tag push(std::string_view key, uint64_t cost, double weight, void* item);
  // The tag a waiter of `key` would get now, without adding it.
  Tag peekTag(std::string_view key) const;
  // Removes a waiter. `served`: it leaves because it was admitted, so the virtual time
  // advances to its start tag (a waiter that gives up leaves the clock where it was).
  void erase(const Tag& t, bool served);

  bool empty() const { return tree_.empty(); }
  size_t size() const { return tree_.size(); }
  // The waiter to serve next (empty() must be false).
  const Tag& head() const { return *tree_.begin(); }
  bool isHead(const Tag& t) const { return !empty() && head().seq == t.seq; }
  // Tokens of the waiters served before `t` (t itself excluded; t need not be queued).
  uint64_t costBefore(const Tag& t) const;
  // Tokens of every waiter.
  uint64_t cost() const;
  double virtualTime() const { return vtime_; }

 private:
  struct Less {
    bool operator()(const Tag& a, const Tag& b) const {
      return a.start != b.start ? a.start < b.start : a.seq < b.seq;
    }
  };
  // Keeps each node's subtree cost in its metadata (policy-based tree node update).
  template <class NodeCItr, class NodeItr, class Cmp, class Alloc>
  struct CostSum {
    using metadata_type = uint64_t;
    void operator()(NodeItr it, NodeCItr end) {
      uint64_t s = (**it).cost;
      if (it.get_l_child() != end) {
        s += it.get_l_child().get_metadata();
      }
      if (it.get_r_child() != end) {
        s += it.get_r_child().get_metadata();
      }
      const_cast<uint64_t&>(it.get_metadata()) = s;
    }
    uint64_t before(const Tag& t) const {
      uint64_t s = 0;
      NodeCItr it = node_begin();
      const NodeCItr end = node_end();
      while (it != end) {
        const NodeCItr l = it.get_l_child();
        if (Less{}(**it, t)) {
          s += (l != end ? l.get_metadata() : 0) + (**it).cost;
          it = it.get_r_child();
        } else {
          it = l;
        }
      }
      return s;
    }
    uint64_t total() const { return node_begin() != node_end() ? node_begin().get_metadata() : 0; }
    virtual NodeCItr node_begin() const = 0;
    virtual NodeCItr node_end() const = 0;
    virtual ~CostSum() = default;
  };
  using Tree = __gnu_pbds::tree<Tag, __gnu_pbds::null_type, Less, __gnu_pbds::rb_tree_tag, CostSum>;

  Tree tree_;
  double vtime_ = 0;
  uint64_t seq_ = 0;
  std::unordered_map<std::string, double> lastFinish_;
};

// How long a request needing `amount` of a bucket waits when `ahead` units are served before
// it: `retryIn` (the store's answer for the amount alone) plus the time the bucket takes to
// give the `ahead` units. Token buckets and sliding windows refill at limit per window
// (continuously; a sliding window by its weighted previous window), fixed windows by `limit`
// at each window's end. 0 when unknown (Concurrency: it depends on other requests ending).
std::chrono::milliseconds queueWait(const store::BucketSpec& bucket,
                                    std::chrono::milliseconds retryIn, uint64_t ahead,
                                    uint64_t amount);

// The same for a request that did not ask the store (it joins a queue that has waiters without
// trying): the head of the queue fits in `headIn` (its own refill wait), and `ahead` units
// (the head's `headCost` included) are served before this request of `amount`. Token buckets
// and sliding windows: after headIn the bucket is empty and refills what is left ahead plus
// this request at its rate; fixed windows: the windows all of it fills from headIn's window on.
std::chrono::milliseconds queueWaitBehind(const store::BucketSpec& bucket,
                                          std::chrono::milliseconds headIn, uint64_t headCost,
                                          uint64_t ahead, uint64_t amount);

}  // namespace tg::limiter
