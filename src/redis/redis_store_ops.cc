// RedisStore's operator calls (peek, reset, adjust) and its Quota buckets (redis_store.h):
// one command per bucket, sent at once (not batched: operators and quotas are rare next to
// reserves, and a quota is a plain key that the batch script does not run).
#include <algorithm>
#include <charconv>
#include <memory>

#include "redis/redis_store.h"
#include "redis/scripts.h"
#include "store/algorithm.h"

namespace tg::redis {

namespace {

using store::BucketPeek;
using store::StoreOp;
using store::StoreStatus;

bool parseInt64(std::string_view s, int64_t& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

void fail(BucketPeek& out, StoreStatus status, std::string error) {
  out = BucketPeek{};
  out.status = status;
  out.error = std::move(error);
}

// A quota command's reply (GET, SET, INCRBY, DECRBY): the counter, or no counter (nil).
// `setValue`: the value a SET wrote (its reply is +OK).
void fromQuotaReply(Status s, const Reply& reply, std::optional<int64_t> setValue,
                    BucketPeek& out) {
  out = BucketPeek{};
  if (s != Status::Ok) {
    fail(out, StoreStatus::Unavailable, "redis " + std::string(statusName(s)));
    return;
  }
  int64_t v = 0;
  switch (reply.type) {
    case Reply::Type::Nil:
      return;  // GET of an unset quota: unlimited
    case Reply::Type::Integer:
      v = reply.integer;
      break;
    case Reply::Type::Status:
      if (!setValue) {
        fail(out, StoreStatus::Invalid, "redis: unexpected reply");
        return;
      }
      v = *setValue;
      break;
    case Reply::Type::String:
      if (!parseInt64(reply.str, v)) {
        fail(out, StoreStatus::Invalid,
             "the stored quota is not an integer: '" + reply.str.substr(0, 64) + "'");
        return;
      }
      break;
    case Reply::Type::Error:
      fail(out, StoreStatus::Invalid, "redis: " + reply.str);
      return;
    default:
      fail(out, StoreStatus::Invalid, "redis: unexpected reply");
      return;
  }
  out.present = true;
  out.remaining = v;
}

// A peek script reply: used, remaining, resetInMs, blockedForMs (scripts.h).
void fromPeekReply(Status s, const Reply& reply, const store::BucketSpec& spec, BucketPeek& out) {
  out = BucketPeek{};
  if (s != Status::Ok) {
    fail(out, StoreStatus::Unavailable, "redis " + std::string(statusName(s)));
    return;
  }
  if (reply.type != Reply::Type::Array || reply.elements.size() < 4) {
    fail(out, StoreStatus::Invalid, reply.isError() ? "redis: " + reply.str : "redis: bad reply");
    return;
  }
  int64_t v[4];
  for (size_t i = 0; i < 4; ++i) {
    if (reply.elements[i].type != Reply::Type::Integer) {
      fail(out, StoreStatus::Invalid, "redis: bad reply");
      return;
    }
    v[i] = reply.elements[i].integer;
  }
  out.limit = spec.limit;
  out.used = v[0];
  out.remaining = v[1];
  out.blockedFor = std::chrono::milliseconds(v[3]);
  out.resetIn = std::max(std::chrono::milliseconds(v[2] == -1 ? store::kNeverMs : v[2]),
                         out.blockedFor);
  out.present = out.used != 0 || v[3] > 0;
}

// Several replies answered as one: `done` runs when the last is in (and the store lives).
struct Countdown {
  size_t left = 0;
  std::function<void()> done;
  std::shared_ptr<std::atomic<bool>> alive;
  void one() {
    if (--left == 0 && alive->load()) {
      auto d = std::move(done);
      d();
    }
  }
};

}  // namespace

bool RedisStore::peek(std::span<const store::BucketSpec> buckets, store::TimePoint now,
                      std::vector<store::BucketPeek>& out, std::function<void()> done) {
  (void)now;  // Redis server time
  out.assign(buckets.size(), BucketPeek{});
  if (buckets.empty()) {
    return true;
  }
  auto cd = std::make_shared<Countdown>(Countdown{buckets.size(), std::move(done), alive_});
  for (size_t i = 0; i < buckets.size(); ++i) {
    const store::BucketSpec& b = buckets[i];
    std::string key = redisKeyFor(options_.keyPrefix, b);
    BucketPeek* o = &out[i];
    const Call call = startCall(StoreOp::Peek);
    if (b.algorithm == store::Algorithm::Quota) {
      client_.command({"GET", key}, key, [cd, o, call](Status s, Reply&& r) {
        if (cd->alive->load()) {
          call.done(s, r);
        }
        fromQuotaReply(s, r, std::nullopt, *o);
        cd->one();
      });
      continue;
    }
    std::vector<std::string> argv;
    appendPeekArgs(b, 0, argv);
    client_.eval(peekScript_, {std::move(key)}, std::move(argv),
                 [cd, o, call, spec = b](Status s, Reply&& r) {
                   if (cd->alive->load()) {
                     call.done(s, r);
                   }
                   fromPeekReply(s, r, spec, *o);
                   cd->one();
                 });
  }
  return false;
}

bool RedisStore::reset(std::span<const store::BucketSpec> buckets, store::TimePoint now,
                       std::vector<store::BucketPeek>& out, std::function<void()> done) {
  (void)now;
  out.assign(buckets.size(), BucketPeek{});
  if (buckets.empty()) {
    return true;
  }
  auto cd = std::make_shared<Countdown>(Countdown{buckets.size(), std::move(done), alive_});
  for (size_t i = 0; i < buckets.size(); ++i) {
    const store::BucketSpec& b = buckets[i];
    std::string key = redisKeyFor(options_.keyPrefix, b);
    BucketPeek* o = &out[i];
    if (b.algorithm != store::Algorithm::Quota) {  // fresh: nothing used (a quota: none set)
      o->limit = b.limit;
      o->remaining = static_cast<int64_t>(std::min<uint64_t>(b.limit, store::kMaxCount));
    }
    const Call call = startCall(StoreOp::Reset);
    client_.command({"DEL", key}, key, [cd, o, call](Status s, Reply&& r) {
      if (cd->alive->load()) {
        call.done(s, r);
      }
      if (s != Status::Ok) {
        fail(*o, StoreStatus::Unavailable, "redis " + std::string(statusName(s)));
      } else if (r.isError()) {
        fail(*o, StoreStatus::Invalid, "redis: " + r.str);
      }
      cd->one();
    });
  }
  return false;
}

bool RedisStore::adjust(const store::BucketSpec& bucket, Adjust how, int64_t value,
                        store::TimePoint now, store::BucketPeek& out, std::function<void()> done) {
  (void)now;
  if (bucket.algorithm != store::Algorithm::Quota) {
    fail(out, StoreStatus::Invalid, "only a quota can be set or adjusted");
    return true;
  }
  std::string key = redisKeyFor(options_.keyPrefix, bucket);
  std::vector<std::string> args;
  std::optional<int64_t> setValue;
  if (how == Adjust::Set) {
    args = {"SET", key, std::to_string(value)};
    setValue = value;
  } else if (value < 0 && value != INT64_MIN) {
    args = {"DECRBY", key, std::to_string(-value)};
  } else {
    args = {"INCRBY", key, std::to_string(value)};
  }
  BucketPeek* o = &out;
  const Call call = startCall(StoreOp::Adjust);
  client_.command(std::move(args), key,
                  [o, setValue, call, done = std::move(done), alive = alive_](Status s,
                                                                              Reply&& r) {
                    if (!alive->load()) {
                      return;
                    }
                    call.done(s, r);
                    fromQuotaReply(s, r, setValue, *o);
                    done();
                  });
  return false;
}

bool RedisStore::reserveQuota(std::span<const store::BucketSpec> buckets,
                              store::ReserveResult& out, std::function<void()> done) {
  fillError(buckets, out);  // until answered (and for a mix: store.h)
  if (buckets.size() != 1) {
    return true;
  }
  std::string key = redisKeyFor(options_.keyPrefix, buckets[0]);
  store::ReserveResult* o = &out;
  const Call call = startCall(StoreOp::Reserve);
  client_.command({"GET", key}, key,
                  [o, call, done = std::move(done), alive = alive_](Status s, Reply&& r) {
                    if (!alive->load()) {
                      return;
                    }
                    call.done(s, r);
                    BucketPeek p;
                    fromQuotaReply(s, r, std::nullopt, p);
                    if (p.ok()) {
                      store::BucketState& st = o->reservations[0].state;
                      const bool admitted = !p.present || p.remaining > 0;
                      st.verdict = admitted ? store::Verdict::Admitted : store::Verdict::OverLimit;
                      st.remaining = p.present ? p.remaining : store::kUnlimited;
                      o->verdict = st.verdict;
                    }
                    done();
                  });
  return false;
}

void RedisStore::settleQuota(const store::Reservation& reservation, int64_t delta) {
  ++stats_.settles;
  const Call call = startCall(StoreOp::Settle);  // counted and its errors kept; not timed
  client_.eval(quotaChargeScript_, {redisKeyFor(options_.keyPrefix, reservation.bucket)},
               {std::to_string(delta)}, [this, call, alive = alive_](Status s, Reply&& r) {
                 if (!alive->load()) {
                   return;
                 }
                 call.done(s, r);
                 if (s != Status::Ok || r.isError()) {
                   ++stats_.settleErrors;
                 }
               });
}

}  // namespace tg::redis
