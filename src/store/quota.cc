#include "store/quota.h"

#include <chrono>
#include <memory>
#include <utility>
#include <vector>

namespace tg::store {

namespace {

// One call's buffers: on the stack's thread-local scratch for a store that decides inline (no
// allocation per request), on the heap while a networked store answers.
struct Call {
  BucketSpec spec;
  std::vector<BucketPeek> peeks;
  BucketPeek one;
  ReserveResult reserve;
  int64_t zero = 0;
};

void fromPeek(const BucketPeek& p, QuotaResult& out) {
  out.reset();
  out.status = p.status;
  out.error = p.error;
  if (p.ok() && p.present) {
    out.remaining = p.remaining;
  }
}

// Runs `start(call, done)` (true = complete inline), then `finish(call)` fills the result.
template <typename Start, typename Finish>
bool run(Store& store, std::string_view consumer, Start start, Finish finish,
         std::function<void()> done) {
  if (store.decidesInline()) {
    thread_local Call local;
    local.spec.key.assign(consumer);
    local.spec.algorithm = Algorithm::Quota;
    if (start(local, nullptr)) {
      finish(local);
      return true;
    }
  }
  auto call = std::make_shared<Call>();
  call->spec = quotaBucket(consumer);
  std::function<void()> resume = [call, finish, done = std::move(done)] {
    finish(*call);
    done();
  };
  if (start(*call, std::move(resume))) {
    finish(*call);
    return true;
  }
  return false;
}

TimePoint wallNow() { return std::chrono::system_clock::now(); }

bool adjustQuota(Store& store, std::string_view consumer, Store::Adjust how, int64_t value,
                 QuotaResult& out, std::function<void()> done) {
  return run(
      store, consumer,
      [&store, how, value](Call& c, std::function<void()> d) {
        return store.adjust(c.spec, how, value, wallNow(), c.one, std::move(d));
      },
      [&out](Call& c) { fromPeek(c.one, out); }, std::move(done));
}

}  // namespace

BucketSpec quotaBucket(std::string_view consumer) {
  BucketSpec s;
  s.key.assign(consumer);
  s.algorithm = Algorithm::Quota;
  s.limit = 0;
  s.window = std::chrono::milliseconds(0);
  return s;
}

bool quotaGet(Store& store, std::string_view consumer, QuotaResult& out,
              std::function<void()> done) {
  return run(
      store, consumer,
      [&store](Call& c, std::function<void()> d) {
        return store.peek(std::span(&c.spec, 1), wallNow(), c.peeks, std::move(d));
      },
      [&out](Call& c) { fromPeek(c.peeks.at(0), out); }, std::move(done));
}

bool quotaSet(Store& store, std::string_view consumer, int64_t value, QuotaResult& out,
              std::function<void()> done) {
  return adjustQuota(store, consumer, Store::Adjust::Set, value, out, std::move(done));
}

bool quotaAdd(Store& store, std::string_view consumer, int64_t delta, QuotaResult& out,
              std::function<void()> done) {
  return adjustQuota(store, consumer, Store::Adjust::Add, delta, out, std::move(done));
}

bool quotaRemove(Store& store, std::string_view consumer, QuotaResult& out,
                 std::function<void()> done) {
  return run(
      store, consumer,
      [&store](Call& c, std::function<void()> d) {
        return store.reset(std::span(&c.spec, 1), wallNow(), c.peeks, std::move(d));
      },
      [&out](Call& c) {
        fromPeek(c.peeks.at(0), out);
        out.remaining.reset();
      },
      std::move(done));
}

bool quotaCheck(Store& store, std::string_view consumer, QuotaResult& out,
                std::function<void()> done) {
  return run(
      store, consumer,
      [&store](Call& c, std::function<void()> d) {
        return store.reserveStart(std::span(&c.spec, 1), std::span(&c.zero, 1),
                                  ReserveMode::Reserve, wallNow(), c.reserve, std::move(d));
      },
      [&out](Call& c) {
        out.reset();
        const ReserveResult& r = c.reserve;
        if (r.reservations.size() != 1 || r.verdict == Verdict::StoreError ||
            r.verdict == Verdict::StoreFull) {
          out.status = QuotaStatus::Unavailable;
          out.error = "the store could not answer";
          return;
        }
        const int64_t remaining = r.reservations[0].state.remaining;
        if (remaining != kUnlimited) {
          out.remaining = remaining;
        }
        out.allowed = r.admitted();
      },
      std::move(done));
}

void quotaCharge(Store& store, std::string_view consumer, int64_t tokens, TimePoint now) {
  if (tokens <= 0) {
    return;
  }
  Reservation r;
  r.bucket = quotaBucket(consumer);
  r.windowStart = now;
  store.settle(std::span(&r, 1), std::span(&tokens, 1), now);
}

}  // namespace tg::store
