#include "proxy/admission_queue.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

namespace tg::proxy {

namespace net = http::net;
using std::chrono::milliseconds;

struct AdmissionQueues::Queue {
  std::string key;
  limiter::FairQueue fair;
};

// One waiting request. The fields under "mutex" are guarded by the queues' mutex; the others
// belong to the waiter's executor (its connection's thread).
struct AdmissionQueues::Waiter : std::enable_shared_from_this<Waiter> {
  Waiter(AdmissionQueues& q, net::any_io_executor ex) : owner(q), timer(std::move(ex)) {}
  // A waiter whose coroutine is destroyed while it waits (its worker stopping) leaves the
  // queue, which holds only a plain pointer to it.
  ~Waiter() { owner.leave(*this); }
  AdmissionQueues& owner;
  net::steady_timer timer;
  // mutex:
  std::shared_ptr<Queue> queue;
  limiter::FairQueue::Tag tag;
  Clock::time_point deadline;
  Clock::time_point retryAt;  // as the head: when the bucket has refilled for it
  bool turn = false;          // try admission now
  bool queued = false;
  // executor:
  io::ByteStream* watch = nullptr;
  bool watching = false;   // a watch is pending
  bool watchDone = false;  // watched once: do not watch again
  bool gone = false;       // the client closed its connection
};

AdmissionQueues::Joined AdmissionQueues::join(const Ask& ask, net::any_io_executor ex) {
  Joined out;
  const Clock::time_point now = Clock::now();
  core::MutexLock lock(mu_);
  auto it = queues_.find(ask.bucket->key);
  limiter::FairQueue::Tag tag;
  uint64_t ahead = 0;
  if (it != queues_.end()) {
    if (it->second->fair.size() >= ask.maxQueued) {
      out.refused = Refusal::Full;
      out.wait = limiter::queueWait(*ask.bucket, ask.retryIn, it->second->fair.cost(), ask.cost);
      return out;
    }
    tag = it->second->fair.peekTag(ask.fairKey);
    ahead = it->second->fair.costBefore(tag);
  } else if (ask.maxQueued == 0) {
    out.refused = Refusal::Full;
    out.wait = ask.retryIn;
    return out;
  }
  if (ask.retryIn.count() == 0 && ahead > 0) {
    // It did not ask the store: it waits for the head to fit, then for the tokens between.
    const Waiter* head = static_cast<const Waiter*>(it->second->fair.head().item);
    const milliseconds headIn = head->turn || head->retryAt <= now
                                    ? milliseconds(0)
                                    : std::chrono::ceil<milliseconds>(head->retryAt - now);
    out.wait = limiter::queueWaitBehind(*ask.bucket, headIn, head->tag.cost, ahead, ask.cost);
  } else {
    out.wait = limiter::queueWait(*ask.bucket, ask.retryIn, ahead, ask.cost);
  }
  if (out.wait > ask.maxWait) {
    out.refused = Refusal::TooLong;
    return out;
  }
  if (it == queues_.end()) {
    auto q = std::make_shared<Queue>();
    q->key = ask.bucket->key;
    it = queues_.emplace(q->key, std::move(q)).first;
  }
  Queue& q = *it->second;
  auto w = std::make_shared<Waiter>(*this, std::move(ex));
  w->queue = it->second;
  w->tag = q.fair.push(ask.fairKey, ask.cost, ask.weight, w.get());
  w->deadline = now + ask.maxWait;
  w->retryAt = now + ask.retryIn;
  w->queued = true;
  // A head that did not just try (it joined behind others' refusal, or the store could not
  // say when it fits) tries at once.
  w->turn = ask.retryIn.count() == 0 && q.fair.isHead(w->tag);
  waiters_.fetch_add(1, std::memory_order_relaxed);
  out.waiter = std::move(w);
  return out;
}

void AdmissionQueues::grant(Queue& q) {
  if (q.fair.empty()) {
    return;
  }
  Waiter* head = static_cast<Waiter*>(q.fair.head().item);
  if (head->turn) {
    return;
  }
  head->turn = true;
  net::post(head->timer.get_executor(), [w = head->shared_from_this()] { w->timer.cancel(); });
}

void AdmissionQueues::remove(Waiter& w, bool served) {
  if (!w.queued) {
    return;
  }
  w.queued = false;
  w.turn = false;
  Queue& q = *w.queue;
  const bool wasHead = q.fair.isHead(w.tag);
  q.fair.erase(w.tag, served);
  waiters_.fetch_sub(1, std::memory_order_relaxed);
  if (q.fair.empty()) {
    queues_.erase(q.key);  // w.queue still holds it
  } else if (wasHead) {
    grant(q);
  }
}

void AdmissionQueues::tried(Waiter& w, bool admitted, std::chrono::milliseconds retryIn) {
  core::MutexLock lock(mu_);
  if (admitted) {
    remove(w, true);
    return;
  }
  w.retryAt = retryIn.count() > 0 ? Clock::now() + retryIn : w.deadline;
}

void AdmissionQueues::leave(Waiter& w) {
  core::MutexLock lock(mu_);
  remove(w, false);
}

bool AdmissionQueues::has(std::string_view bucketKey) const {
  core::MutexLock lock(mu_);
  return queues_.find(bucketKey) != queues_.end();
}

void AdmissionQueues::notify(std::string_view bucketKey) {
  core::MutexLock lock(mu_);
  auto it = queues_.find(bucketKey);
  if (it != queues_.end()) {
    grant(*it->second);
  }
}

void AdmissionQueues::unwatch(Waiter& w) {
  if (w.watching) {
    w.watching = false;
    w.watchDone = true;
    w.watch->cancel();  // nothing else is pending on the client stream while it waits
  }
}

http::Task<AdmissionQueues::Wake> AdmissionQueues::wait(const std::shared_ptr<Waiter>& w,
                                                        io::ByteStream* watch) {
  for (;;) {
    std::optional<Wake> wake;
    Clock::time_point until;
    {
      core::MutexLock lock(mu_);
      const Clock::time_point now = Clock::now();
      const bool head = w->queued && w->queue->fair.isHead(w->tag);
      if (w->turn || (head && now >= w->retryAt)) {
        w->turn = false;
        wake = Wake::Turn;
      } else if (now >= w->deadline || !w->queued) {
        wake = Wake::Timeout;
      }
      until = head ? std::min(w->retryAt, w->deadline) : w->deadline;
    }
    if (w->gone) {
      wake = Wake::Gone;
    }
    if (wake) {
      co_return *wake;
    }
    if (watch != nullptr && !w->watching && !w->watchDone) {
      w->watch = watch;
      w->watching = watch->watchReadable([w](io::error_code ec) {
        if (!w->watching) {
          return;  // unwatched: the stream may be in use again
        }
        w->watching = false;
        w->watchDone = true;
        if (!ec && w->watch->peerClosed()) {
          w->gone = true;
          w->timer.cancel();
        }
      });
      w->watchDone = !w->watching;
    }
    w->timer.expires_at(until);
    http::error_code ec;
    co_await w->timer.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
}

}  // namespace tg::proxy
