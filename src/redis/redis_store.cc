#include "redis/redis_store.h"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "redis/scripts.h"

namespace tg::redis {

namespace {

// The integers of a reply array; false when it is anything else.
bool integersOf(const Reply& r, std::vector<int64_t>& out) {
  if (r.type != Reply::Type::Array) {
    return false;
  }
  out.clear();
  for (const Reply& e : r.elements) {
    if (e.type != Reply::Type::Integer) {
      return false;
    }
    out.push_back(e.integer);
  }
  return true;
}


using store::StoreError;
using store::StoreOp;
using Clock = std::chrono::steady_clock;

// The error of a failed call: the client's status, or Reply when Redis answered but not as
// expected (an error reply, a script error, a reply of the wrong shape).
StoreError errorOf(Status s) {
  return s == Status::Timeout       ? StoreError::Timeout
         : s == Status::Unavailable ? StoreError::Unavailable
         : s == Status::Protocol    ? StoreError::Protocol
                                    : StoreError::Reply;
}

}  // namespace

void RedisStore::fillError(std::span<const store::BucketSpec> buckets, store::ReserveResult& out) {
  out.verdict = store::Verdict::StoreError;
  out.decisiveIndex = 0;
  out.retryIn = std::chrono::milliseconds(0);
  out.reservations.resize(buckets.size());
  for (size_t i = 0; i < buckets.size(); ++i) {
    store::Reservation& r = out.reservations[i];
    r.bucket = buckets[i];
    r.windowStart = store::TimePoint{};
    r.charged = 0;
    r.state = store::BucketState{};
    r.state.verdict = store::Verdict::StoreError;
    r.state.limit = buckets[i].limit;
    r.id = store::BucketId{};
  }
}

struct RedisStore::ReserveOp {
  std::span<const store::BucketSpec> buckets;
  std::span<const int64_t> amounts;
  store::ReserveMode mode = store::ReserveMode::Reserve;
  store::ReserveResult* out = nullptr;
  std::function<void()> done;
  std::vector<std::string> keys;  // the Redis key of every bucket, built once
  // A request whose buckets share one slot (always, on standalone Redis) is one operation
  // straight from `buckets` into `out`. One spanning slots (cluster) runs group by group:
  std::vector<std::vector<size_t>> groups;    // bucket indices per slot, first appearance order
  std::vector<store::ReserveResult> results;  // one per group run so far
  std::vector<store::BucketSpec> specs;       // the current group's
  Clock::time_point start;                    // for the duration metric
  bool single() const { return groups.empty(); }
  std::span<const store::BucketSpec> queuedSpecs() const {
    return single() ? buckets : std::span<const store::BucketSpec>(specs);
  }
};

// A batch being filled for one slot, and the reserves waiting for its reply (in order).
struct RedisStore::Pending {
  uint16_t slot = 0;
  Batch batch;
  std::vector<std::shared_ptr<ReserveOp>> waiters;
  size_t settles = 0;
};

RedisStore::RedisStore(boost::asio::any_io_executor ex, RedisStoreOptions options)
    : options_(std::move(options)),
      ex_(ex),
      client_(ex, options_.client),
      batchScript_(std::string(batchScriptText())),
      peekScript_(std::string(peekScriptText())),
      quotaChargeScript_(std::string(quotaChargeScriptText())),
      settleTimer_(std::move(ex)),
      recorder_(options_.stats,
                options_.client.cluster ? store::StoreKind::RedisCluster : store::StoreKind::Redis,
                {StoreOp::Reserve, StoreOp::Peek, StoreOp::Reset, StoreOp::Adjust},
                {StoreOp::Reserve, StoreOp::Settle, StoreOp::Peek, StoreOp::Reset, StoreOp::Adjust},
                {StoreError::Timeout, StoreError::Unavailable, StoreError::Protocol,
                 StoreError::Reply}),
      alive_(std::make_shared<std::atomic<bool>>(true)) {
  client_.start();
}

RedisStore::Call RedisStore::startCall(StoreOp op) const {
  recorder_.count(op);
  return Call{&recorder_, op, recorder_ ? Clock::now() : Clock::time_point{}};
}

void RedisStore::Call::done(Status s, const Reply& r) const {
  if (!*rec) {
    return;
  }
  rec->duration(op, Clock::now() - start);
  if (s != Status::Ok) {
    rec->error(op, errorOf(s));
  } else if (r.isError()) {
    rec->error(op, StoreError::Reply);
  }
}

RedisStore::~RedisStore() {
  alive_->store(false);
  settleTimer_.cancel();
  client_.stop();
}

void RedisStore::reserveInto(std::span<const store::BucketSpec> buckets,
                             std::span<const int64_t> amounts, store::ReserveMode mode,
                             store::TimePoint now, store::ReserveResult& out) {
  (void)amounts;
  (void)mode;
  (void)now;
  fillError(buckets, out);  // cannot wait for the network inline (see the header)
}

bool RedisStore::reserveStart(std::span<const store::BucketSpec> buckets,
                              std::span<const int64_t> amounts, store::ReserveMode mode,
                              store::TimePoint now, store::ReserveResult& out,
                              std::function<void()> done) {
  (void)now;  // Redis server time
  for (const store::BucketSpec& b : buckets) {
    if (b.algorithm == store::Algorithm::Quota) {
      return reserveQuota(buckets, out, std::move(done));
    }
  }
  ++stats_.reserves;
  recorder_.count(StoreOp::Reserve);
  auto op = std::make_shared<ReserveOp>();
  if (recorder_) {
    op->start = Clock::now();
  }
  op->buckets = buckets;
  op->amounts = amounts;
  op->mode = mode;
  op->out = &out;
  op->done = std::move(done);
  op->keys.reserve(buckets.size());
  for (const store::BucketSpec& b : buckets) {
    op->keys.push_back(redisKeyFor(options_.keyPrefix, b));
  }
  if (options_.client.cluster) {
    std::vector<uint16_t> slots;
    for (size_t i = 0; i < buckets.size(); ++i) {
      const uint16_t slot = slotOf(op->keys[i]);
      auto it = std::find(slots.begin(), slots.end(), slot);
      if (it == slots.end()) {
        slots.push_back(slot);
        op->groups.emplace_back();
        op->groups.back().push_back(i);
      } else {
        op->groups[static_cast<size_t>(it - slots.begin())].push_back(i);
      }
    }
    if (op->groups.size() == 1) {
      op->groups.clear();  // one slot: a single operation
    }
  }
  if (op->single()) {
    ++stats_.reserveOps;
    Pending& p = pendingFor(options_.client.cluster && !op->keys.empty() ? slotOf(op->keys[0]) : 0);
    p.batch.addReserve(op->keys, buckets, amounts, mode);
    p.waiters.push_back(std::move(op));
    queued(p, true);
  } else {
    runGroup(op);
  }
  return false;
}

// Queues the reserve of the op's next slot group, or finishes the op when none is left.
void RedisStore::runGroup(const std::shared_ptr<ReserveOp>& op) {
  const size_t g = op->results.size();
  if (g == op->groups.size()) {
    finish(op);
    return;
  }
  const std::vector<size_t>& idx = op->groups[g];
  op->specs.clear();
  std::vector<int64_t> amounts;
  std::vector<std::string> keys;
  for (size_t i : idx) {
    op->specs.push_back(op->buckets[i]);
    amounts.push_back(i < op->amounts.size() ? op->amounts[i] : 0);
    keys.push_back(op->keys[i]);
  }
  ++stats_.reserveOps;
  Pending& p = pendingFor(options_.client.cluster && !keys.empty() ? slotOf(keys[0]) : 0);
  p.batch.addReserve(keys, op->specs, amounts, op->mode);
  p.waiters.push_back(op);
  queued(p, true);
}

RedisStore::Pending& RedisStore::pendingFor(uint16_t slot) {
  for (const std::unique_ptr<Pending>& p : pending_) {
    if (p->slot == slot) {
      return *p;
    }
  }
  pending_.push_back(std::make_unique<Pending>());
  pending_.back()->slot = slot;
  return *pending_.back();
}

// After an operation joined `p`: a full batch goes now. Otherwise a reserve (`waited` for by
// a client) goes with the flush posted by the first reserve of this turn of the event loop,
// and a settle waits up to kSettleDelay for a reserve to travel with.
void RedisStore::queued(Pending& p, bool waited) {
  if (p.batch.ops() >= kMaxBatchOps) {
    send(p);
    return;
  }
  if (flushPosted_) {
    return;
  }
  if (waited) {
    flushPosted_ = true;
    boost::asio::post(ex_, [this, alive = alive_] {
      if (alive->load()) {
        flush();
      }
    });
  } else if (!timerArmed_) {
    timerArmed_ = true;
    settleTimer_.expires_after(kSettleDelay);
    settleTimer_.async_wait([this, alive = alive_](const boost::system::error_code&) {
      if (alive->load()) {
        timerArmed_ = false;
        flush();
      }
    });
  }
}

void RedisStore::flush() {
  flushPosted_ = false;
  for (const std::unique_ptr<Pending>& p : pending_) {
    if (p->batch.ops() > 0) {
      send(*p);
    }
  }
  if (pending_.size() > 16) {  // cluster: do not keep one empty batch per slot ever used
    pending_.clear();
  }
}

// Sends `p`'s batch and leaves `p` empty for the next operations.
void RedisStore::send(Pending& p) {
  std::vector<std::string> argv = p.batch.argv(0);
  std::vector<std::string> keys = p.batch.takeKeys();
  const size_t expected = p.batch.replyValues();
  auto waiters = std::make_shared<std::vector<std::shared_ptr<ReserveOp>>>(std::move(p.waiters));
  const size_t settles = p.settles;
  p.batch.clear();
  p.waiters.clear();
  p.settles = 0;
  ++stats_.batches;
  client_.eval(batchScript_, std::move(keys), std::move(argv),
               [this, alive = alive_, waiters, settles, expected](Status s, Reply&& reply) {
                 if (!alive->load()) {
                   return;
                 }
                 std::vector<int64_t> values;
                 if (s != Status::Ok || !integersOf(reply, values) || values.size() != expected) {
                   stats_.settleErrors += settles;
                   const StoreError e = errorOf(s);
                   recorder_.error(StoreOp::Settle, e, settles);
                   for (const std::shared_ptr<ReserveOp>& op : *waiters) {
                     failAll(op, e);
                   }
                   return;
                 }
                 size_t offset = 0;
                 for (const std::shared_ptr<ReserveOp>& op : *waiters) {
                   const std::span<const store::BucketSpec> specs = op->queuedSpecs();
                   const size_t n = reserveReplySize(specs.size());
                   const std::span<const int64_t> part = std::span(values).subspan(offset, n);
                   offset += n;
                   if (op->single()) {
                     if (parseReserveReply(part, specs, *op->out)) {
                       recordReserve(*op, nullptr);
                       auto done = std::move(op->done);
                       done();
                     } else {
                       failAll(op, StoreError::Reply);
                     }
                     continue;
                   }
                   store::ReserveResult r;
                   if (!parseReserveReply(part, specs, r)) {
                     failAll(op, StoreError::Reply);
                   } else {
                     const bool admitted = r.admitted();
                     op->results.push_back(std::move(r));
                     if (admitted) {
                       runGroup(op);
                     } else {
                       finish(op);
                     }
                   }
                 }
               });
}

// Merges the group results into the request's result; rolls back on a rejection.
void RedisStore::finish(const std::shared_ptr<ReserveOp>& op) {
  store::ReserveResult& out = *op->out;
  const size_t n = op->buckets.size();
  out.verdict = store::Verdict::Admitted;
  out.decisiveIndex = 0;
  out.retryIn = std::chrono::milliseconds(0);
  out.reservations.resize(n);
  for (size_t i = 0; i < n; ++i) {  // buckets of groups never run: not charged, state unknown
    store::Reservation& r = out.reservations[i];
    r.bucket = op->buckets[i];
    r.windowStart = store::TimePoint{};
    r.charged = 0;
    r.state = store::BucketState{};
    r.state.limit = op->buckets[i].limit;
    r.id = store::BucketId{};
  }
  for (size_t g = 0; g < op->results.size(); ++g) {
    const store::ReserveResult& gr = op->results[g];
    const std::vector<size_t>& idx = op->groups[g];
    for (size_t k = 0; k < idx.size() && k < gr.reservations.size(); ++k) {
      out.reservations[idx[k]] = gr.reservations[k];
    }
    if (!gr.admitted()) {
      out.verdict = gr.verdict;
      out.decisiveIndex = gr.decisiveIndex < idx.size() ? idx[gr.decisiveIndex] : idx[0];
      out.retryIn = gr.retryIn;
    }
  }
  if (!out.admitted() && op->results.size() > 1) {
    // All or nothing across slots: give back what the earlier (admitted) groups charged.
    std::vector<store::Reservation> back;
    std::vector<int64_t> deltas;
    for (size_t g = 0; g + 1 < op->results.size(); ++g) {
      for (size_t i : op->groups[g]) {
        store::Reservation& r = out.reservations[i];
        if (r.charged != 0) {
          back.push_back(r);
          deltas.push_back(-r.charged);
          r.charged = 0;
        }
      }
    }
    settle(back, deltas, store::TimePoint{});
  }
  recordReserve(*op, nullptr);
  auto done = std::move(op->done);
  done();
}

void RedisStore::recordReserve(const ReserveOp& op, const StoreError* error) const {
  if (recorder_) {
    recorder_.duration(StoreOp::Reserve, Clock::now() - op.start);
    if (error != nullptr) {
      recorder_.error(StoreOp::Reserve, *error);
    }
  }
}

void RedisStore::failAll(const std::shared_ptr<ReserveOp>& op, StoreError error) {
  ++stats_.reserveErrors;
  recordReserve(*op, &error);
  // Earlier slot groups were charged: give it back (best effort; Redis may be down).
  std::vector<store::Reservation> back;
  std::vector<int64_t> deltas;
  for (size_t g = 0; g < op->results.size(); ++g) {
    const store::ReserveResult& gr = op->results[g];
    for (const store::Reservation& r : gr.reservations) {
      if (r.charged != 0) {
        back.push_back(r);
        deltas.push_back(-r.charged);
      }
    }
  }
  if (!back.empty()) {
    settle(back, deltas, store::TimePoint{});
  }
  fillError(op->buckets, *op->out);
  auto done = std::move(op->done);
  done();
}

void RedisStore::settle(std::span<const store::Reservation> reservations,
                        std::span<const int64_t> deltas, store::TimePoint now) {
  (void)now;  // Redis server time
  // Group by slot (one group on standalone Redis), skipping zero deltas.
  std::vector<std::string> allKeys(reservations.size());
  std::vector<uint16_t> slots;
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < reservations.size() && i < deltas.size(); ++i) {
    if (deltas[i] == 0) {
      continue;
    }
    if (reservations[i].bucket.algorithm == store::Algorithm::Quota) {
      settleQuota(reservations[i], deltas[i]);
      continue;
    }
    allKeys[i] = redisKeyFor(options_.keyPrefix, reservations[i].bucket);
    const uint16_t slot = options_.client.cluster ? slotOf(allKeys[i]) : 0;
    auto it = std::find(slots.begin(), slots.end(), slot);
    if (it == slots.end()) {
      slots.push_back(slot);
      groups.emplace_back(1, i);
    } else {
      groups[static_cast<size_t>(it - slots.begin())].push_back(i);
    }
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<store::Reservation> rs;
    std::vector<int64_t> ds;
    std::vector<std::string> keys;
    for (size_t i : groups[g]) {
      rs.push_back(reservations[i]);
      ds.push_back(deltas[i]);
      keys.push_back(std::move(allKeys[i]));
    }
    ++stats_.settles;
    recorder_.count(StoreOp::Settle);
    Pending& p = pendingFor(slots[g]);
    p.batch.addSettle(keys, rs, ds);
    ++p.settles;
    queued(p, false);
  }
}

void RedisStore::stop() {
  settleTimer_.cancel();
  timerArmed_ = false;
  flush();
  client_.stopWhenIdle();
}

}  // namespace tg::redis
