#pragma once
// RedisQuotaStore: the store::QuotaStore whose counters live in Redis (standalone or Cluster),
// shared by every gateway instance on the same Redis (store/quota.h has the contract). As in
// Higress's ai-quota plugin, a consumer's quota is one plain integer string:
//
//   key       <keyPrefix>quota:{<consumer>}   (the consumer is the Cluster hash tag; every
//             operation is ONE command on ONE key, routed by that key)
//   get       GET key            nil = no quota (unlimited)
//   check     GET key            allowed while the value is > 0 (or nil)
//   set       SET key value
//   add       INCRBY key delta   (DECRBY key -delta for a decrease); an unset key counts as 0
//   remove    DEL key
//   charge    EVALSHA of a two-line script: DECRBY only when the key exists, so a charge
//             never creates a quota for a consumer that has none (a plain DECRBY would create
//             a negative counter and block an unlimited consumer). Sent and not waited for.
//
// Operators may read and write the same keys with redis-cli (`GET tg:quota:{alice}`).
//
// Failures: a transport failure (timeout, Redis down: the client fails fast while down) answers
// QuotaStatus::Unavailable; a Redis error reply (a value that is not an integer, an overflow)
// or a non-integer value answers QuotaStatus::Invalid. Nothing is retried. A lost charge is
// counted (stats().chargeErrors).
//
// Threads: one RedisQuotaStore per io_context thread, called on that thread only, like
// RedisStore; `done` runs on it too, never inline (so every operation but charge returns
// false). It either borrows a client (a worker's RedisStore::client(): no extra connection) or
// owns one (the admin server's thread). Callbacks never touch the store, so it may be
// destroyed with commands in flight (they complete with Unavailable).

#include <cstdint>
#include <memory>
#include <string>

#include "redis/client.h"
#include "store/quota.h"

namespace tg::redis {

struct RedisQuotaStats {
  uint64_t charges = 0;       // charge scripts sent
  uint64_t chargeErrors = 0;  // charges that failed (lost)
};

class RedisQuotaStore final : public store::QuotaStore {
 public:
  // Borrows `client` (which must outlive this store); `keyPrefix` as store.redis.key_prefix.
  RedisQuotaStore(Client& client, std::string keyPrefix);
  // Owns a client of its own on `ex` (started here).
  RedisQuotaStore(boost::asio::any_io_executor ex, Options options, std::string keyPrefix);
  ~RedisQuotaStore() override;
  RedisQuotaStore(const RedisQuotaStore&) = delete;
  RedisQuotaStore& operator=(const RedisQuotaStore&) = delete;

  // store::QuotaStore
  bool get(std::string_view consumer, store::QuotaResult& out,
           std::function<void()> done) override;
  bool set(std::string_view consumer, int64_t value, store::QuotaResult& out,
           std::function<void()> done) override;
  bool add(std::string_view consumer, int64_t delta, store::QuotaResult& out,
           std::function<void()> done) override;
  bool remove(std::string_view consumer, store::QuotaResult& out,
              std::function<void()> done) override;
  bool check(std::string_view consumer, store::QuotaResult& out,
             std::function<void()> done) override;
  void charge(std::string_view consumer, int64_t tokens) override;
  bool decidesInline() const override { return false; }
  // Closes its own client once the charges sent are answered (a borrowed client is its
  // owner's to stop).
  void stop() override;

  // The Redis key of a consumer's quota.
  std::string keyOf(std::string_view consumer) const;
  const RedisQuotaStats& stats() const { return *stats_; }
  Client& client() { return *client_; }

 private:
  void run(std::vector<std::string> args, store::QuotaResult& out, std::function<void()> done,
           bool isCheck);

  std::unique_ptr<Client> owned_;
  Client* client_;
  std::string keyPrefix_;
  Script chargeScript_;
  std::shared_ptr<RedisQuotaStats> stats_;
};

}  // namespace tg::redis
