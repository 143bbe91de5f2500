#include "redis/redis_quota.h"

#include <charconv>

namespace tg::redis {

namespace {

// DECRBY only an existing quota: no quota = unlimited, and a charge must not create one.
constexpr const char* kChargeScript =
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  return redis.call('DECRBY', KEYS[1], ARGV[1])\n"
    "end\n"
    "return false\n";

bool parseInt64(std::string_view s, int64_t& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

// Fills `out` from the reply of GET / SET / INCRBY / DECRBY / DEL.
void fill(Status s, const Reply& reply, store::QuotaResult& out, bool isCheck,
          std::optional<int64_t> setValue) {
  out.reset();
  if (s != Status::Ok) {
    out.status = store::QuotaStatus::Unavailable;
    out.error = "redis " + std::string(statusName(s));
    return;
  }
  switch (reply.type) {
    case Reply::Type::Error:
      out.status = store::QuotaStatus::Invalid;
      out.error = "redis: " + reply.str;
      return;
    case Reply::Type::Nil:
      return;  // GET of an unset quota
    case Reply::Type::Integer:
      if (!setValue) {  // INCRBY / DECRBY answer the new value; DEL the keys removed
        out.remaining = reply.integer;
      }
      break;
    case Reply::Type::Status:  // SET: +OK
      out.remaining = setValue;
      break;
    case Reply::Type::String: {
      int64_t v = 0;
      if (!parseInt64(reply.str, v)) {
        out.status = store::QuotaStatus::Invalid;
        out.error = "the stored quota is not an integer: '" + reply.str.substr(0, 64) + "'";
        return;
      }
      out.remaining = v;
      break;
    }
    default:
      out.status = store::QuotaStatus::Invalid;
      out.error = "redis: unexpected reply";
      return;
  }
  if (isCheck && out.remaining) {
    out.allowed = *out.remaining > 0;
  }
}

}  // namespace

RedisQuotaStore::RedisQuotaStore(Client& client, std::string keyPrefix)
    : client_(&client),
      keyPrefix_(std::move(keyPrefix)),
      chargeScript_(kChargeScript),
      stats_(std::make_shared<RedisQuotaStats>()) {}

RedisQuotaStore::RedisQuotaStore(boost::asio::any_io_executor ex, Options options,
                                 std::string keyPrefix)
    : owned_(std::make_unique<Client>(std::move(ex), std::move(options))),
      client_(owned_.get()),
      keyPrefix_(std::move(keyPrefix)),
      chargeScript_(kChargeScript),
      stats_(std::make_shared<RedisQuotaStats>()) {
  owned_->start();
}

RedisQuotaStore::~RedisQuotaStore() {
  if (owned_) {
    owned_->stop();
  }
}

std::string RedisQuotaStore::keyOf(std::string_view consumer) const {
  std::string k;
  k.reserve(keyPrefix_.size() + consumer.size() + 8);
  k += keyPrefix_;
  k += "quota:{";
  k += consumer;
  k += '}';
  return k;
}

void RedisQuotaStore::run(std::vector<std::string> args, store::QuotaResult& out,
                          std::function<void()> done, bool isCheck) {
  std::optional<int64_t> setValue;
  if (args[0] == "SET") {
    int64_t v = 0;
    if (parseInt64(args[2], v)) {
      setValue = v;
    }
  }
  bool isDel = args[0] == "DEL";
  std::string key = args[1];
  store::QuotaResult* o = &out;
  client_->command(std::move(args), key,
                   [o, done = std::move(done), isCheck, setValue, isDel](Status s, Reply&& r) {
                     fill(s, r, *o, isCheck, setValue);
                     if (isDel) {
                       o->remaining.reset();
                     }
                     done();
                   });
}

bool RedisQuotaStore::get(std::string_view consumer, store::QuotaResult& out,
                          std::function<void()> done) {
  run({"GET", keyOf(consumer)}, out, std::move(done), false);
  return false;
}

bool RedisQuotaStore::set(std::string_view consumer, int64_t value, store::QuotaResult& out,
                          std::function<void()> done) {
  run({"SET", keyOf(consumer), std::to_string(value)}, out, std::move(done), false);
  return false;
}

bool RedisQuotaStore::add(std::string_view consumer, int64_t delta, store::QuotaResult& out,
                          std::function<void()> done) {
  if (delta < 0 && delta != INT64_MIN) {
    run({"DECRBY", keyOf(consumer), std::to_string(-delta)}, out, std::move(done), false);
  } else {
    run({"INCRBY", keyOf(consumer), std::to_string(delta)}, out, std::move(done), false);
  }
  return false;
}

bool RedisQuotaStore::remove(std::string_view consumer, store::QuotaResult& out,
                             std::function<void()> done) {
  run({"DEL", keyOf(consumer)}, out, std::move(done), false);
  return false;
}

bool RedisQuotaStore::check(std::string_view consumer, store::QuotaResult& out,
                            std::function<void()> done) {
  run({"GET", keyOf(consumer)}, out, std::move(done), true);
  return false;
}

void RedisQuotaStore::charge(std::string_view consumer, int64_t tokens) {
  if (tokens <= 0) {
    return;
  }
  ++stats_->charges;
  std::shared_ptr<RedisQuotaStats> stats = stats_;
  client_->eval(chargeScript_, {keyOf(consumer)}, {std::to_string(tokens)},
                [stats](Status s, Reply&& r) {
                  if (s != Status::Ok || r.isError()) {
                    ++stats->chargeErrors;
                  }
                });
}

void RedisQuotaStore::stop() {
  if (owned_) {
    owned_->stopWhenIdle();
  }
}

}  // namespace tg::redis
