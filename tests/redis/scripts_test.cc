// The Lua scripts of redis/scripts.h on a REAL redis-server (no mocks), through hiredis's
// synchronous API. The main test is a property test: the same random sequence of reserve /
// settle operations (random algorithms, limits, windows, penalties, amounts, modes, multi-bucket
// requests, time stepped forwards, backwards and onto window boundaries) runs on a
// store::MemoryStore and through the scripts, and every ReserveResult must be identical.
// The targeted tests check boundary and debt cases per algorithm with explicit numbers (and
// against MemoryStore too), expiry (PEXPIREAT), peek, and the server-TIME path. The property
// test runs a second time through the store's Redis Functions library (FCALL, Redis 7+).
#include "redis/scripts.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.h"
#include "store/algorithm.h"
#include "store/key_hash.h"
#include "store/memory_store.h"

namespace tg::redis {
namespace {

using std::chrono::milliseconds;
using store::Algorithm;
using store::BucketSpec;
using store::MemoryStore;
using store::MemoryStoreOptions;
using store::Reservation;
using store::ReserveMode;
using store::ReserveResult;
using store::TimePoint;
using store::Verdict;

constexpr size_t kShards = 4096;
constexpr std::string_view kPrefix = "tg:";

int64_t realNowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TimePoint tp(int64_t ms) { return TimePoint(milliseconds(ms)); }

BucketSpec spec(std::string key, Algorithm a, uint64_t limit, int64_t windowMs,
                int64_t penaltyMs = 0) {
  BucketSpec s;
  s.key = std::move(key);
  s.algorithm = a;
  s.limit = limit;
  s.window = milliseconds(windowMs);
  s.penalty = milliseconds(penaltyMs);
  return s;
}

const char* verdictName(Verdict v) {
  static const char* names[] = {"Admitted", "OverLimit", "Blocked",
                                "TooLarge", "StoreFull", "StoreError"};
  return names[static_cast<int>(v)];
}

std::string describe(const ReserveResult& r) {
  std::ostringstream o;
  o << verdictName(r.verdict) << " decisive=" << r.decisiveIndex << " retryIn=" << r.retryIn.count()
    << " [";
  for (const Reservation& x : r.reservations) {
    o << " {" << verdictName(x.state.verdict) << " charged=" << x.charged
      << " ws=" << store::toMillis(x.windowStart) << " rem=" << x.state.remaining
      << " reset=" << x.state.resetIn.count() << " retry=" << x.state.retryIn.count()
      << " limit=" << x.state.limit << "}";
  }
  o << " ]";
  return o.str();
}

// "" when the two results are the same as far as a caller can see.
std::string diff(const ReserveResult& mem, const ReserveResult& red) {
  bool same = mem.verdict == red.verdict && mem.decisiveIndex == red.decisiveIndex &&
              mem.retryIn == red.retryIn && mem.reservations.size() == red.reservations.size();
  for (size_t i = 0; same && i < mem.reservations.size(); ++i) {
    const Reservation& a = mem.reservations[i];
    const Reservation& b = red.reservations[i];
    same = a.state.verdict == b.state.verdict && a.charged == b.charged &&
           a.windowStart == b.windowStart && a.state.remaining == b.state.remaining &&
           a.state.resetIn == b.state.resetIn && a.state.retryIn == b.state.retryIn &&
           a.state.limit == b.state.limit && a.bucket.key == b.bucket.key;
  }
  if (same) {
    return "";
  }
  return "\n  memory: " + describe(mem) + "\n  redis:  " + describe(red);
}

class ScriptsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (testing::redisServerAvailable()) {
      server_ = new testing::RedisServer();
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    if (server_ == nullptr || !server_->running()) {
      GTEST_SKIP() << "redis-server not installed";
    }
    ctx_ = redisConnect("127.0.0.1", server_->port());
    ASSERT_TRUE(ctx_ != nullptr && ctx_->err == 0);
    command({"FLUSHALL"});
    batchSha_ = command({"SCRIPT", "LOAD", std::string(batchScriptText())});
    peekSha_ = command({"SCRIPT", "LOAD", std::string(peekScriptText())});
    ASSERT_EQ(batchSha_.size(), 40u) << batchSha_;
    ASSERT_EQ(peekSha_.size(), 40u) << peekSha_;
    if (viaFunctions_) {
      const FunctionLibrary& lib = storeFunctionLibrary();
      const std::string loaded = command({"FUNCTION", "LOAD", "REPLACE", lib.code});
      if (loaded.starts_with("ERR unknown command")) {
        GTEST_SKIP() << "this redis-server has no Redis Functions (Redis < 7)";
      }
      ASSERT_EQ(loaded, lib.name);
    }
    resetMemory();
  }

  void TearDown() override {
    if (ctx_ != nullptr) {
      redisFree(ctx_);
    }
  }

  void resetMemory(store::HashKey key = {11, 22}) {
    mem_ = std::make_unique<MemoryStore>(MemoryStoreOptions{
        .shards = kShards, .maxEntries = 1 << 16, .sweepPerOperation = 2, .hashKey = key});
  }

  // A command whose reply is a string, status, error or integer, as text.
  std::string command(const std::vector<std::string>& args) {
    redisReply* r = run(args);
    std::string out;
    if (r->type == REDIS_REPLY_INTEGER) {
      out = std::to_string(r->integer);
    } else if (r->str != nullptr) {
      out.assign(r->str, r->len);
    }
    freeReplyObject(r);
    return out;
  }

  redisReply* run(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (r == nullptr) {
      ADD_FAILURE() << "redis I/O error: " << ctx_->errstr;
      std::abort();
    }
    return r;
  }

  // One field of a bucket's value (scripts.cc: six little-endian doubles s, c, p, b, x, t).
  std::string field(const std::string& key, char name) {
    const size_t index = std::string_view("scpbxt").find(name);
    return command({"EVAL",
                    "return (struct.unpack('<d', redis.call('GET', KEYS[1]), tonumber(ARGV[1])))",
                    "1", key, std::to_string(1 + 8 * index)});
  }

  // The store library's function that runs the script of SHA1 `sha` ("" if none).
  static std::string functionOf(const std::string& sha) {
    for (const FunctionLibrary::Function& f : storeFunctionLibrary().functions) {
      if (f.scriptSha1 == sha) {
        return f.name;
      }
    }
    return "";
  }

  // EVALSHA (FCALL of the script's library function when viaFunctions_); the reply as integers
  // (an integer reply is one element). Fails on an error reply.
  std::vector<int64_t> evalsha(const std::string& sha, const std::vector<std::string>& keys,
                               const std::vector<std::string>& args) {
    std::vector<std::string> cmd = {"EVALSHA", sha, std::to_string(keys.size())};
    if (viaFunctions_) {
      cmd = {"FCALL", functionOf(sha), std::to_string(keys.size())};
    }
    cmd.insert(cmd.end(), keys.begin(), keys.end());
    cmd.insert(cmd.end(), args.begin(), args.end());
    redisReply* r = run(cmd);
    std::vector<int64_t> out;
    if (r->type == REDIS_REPLY_ERROR) {
      ADD_FAILURE() << "script error: " << std::string(r->str, r->len);
    } else if (r->type == REDIS_REPLY_INTEGER) {
      out.push_back(r->integer);
    } else if (r->type == REDIS_REPLY_ARRAY) {
      for (size_t i = 0; i < r->elements; ++i) {
        EXPECT_EQ(r->element[i]->type, REDIS_REPLY_INTEGER);
        out.push_back(r->element[i]->integer);
      }
    } else {
      ADD_FAILURE() << "unexpected reply type " << r->type;
    }
    freeReplyObject(r);
    return out;
  }

  static std::vector<std::string> keysOf(std::span<const BucketSpec> buckets) {
    std::vector<std::string> keys;
    for (const BucketSpec& b : buckets) {
      keys.push_back(redisKeyFor(kPrefix, b));
    }
    return keys;
  }
  static std::vector<std::string> keysOf(std::span<const Reservation> reservations) {
    std::vector<std::string> keys;
    for (const Reservation& r : reservations) {
      keys.push_back(redisKeyFor(kPrefix, r.bucket));
    }
    return keys;
  }

  ReserveResult redisReserve(std::span<const BucketSpec> buckets, std::span<const int64_t> amounts,
                             ReserveMode mode, int64_t nowMs, int64_t* nowUsed = nullptr) {
    Batch batch;
    batch.addReserve(keysOf(buckets), buckets, amounts, mode);
    std::vector<int64_t> reply = evalsha(batchSha_, batch.keys(), batch.argv(nowMs));
    ReserveResult out;
    EXPECT_TRUE(parseReserveReply(reply, buckets, out)) << "reply of " << reply.size();
    if (nowUsed != nullptr && reply.size() >= 4) {
      *nowUsed = reply[3];
    }
    return out;
  }

  void redisSettle(std::span<const Reservation> reservations, std::span<const int64_t> deltas,
                   int64_t nowMs) {
    Batch batch;
    batch.addSettle(keysOf(reservations), reservations, deltas);
    EXPECT_EQ(evalsha(batchSha_, batch.keys(), batch.argv(nowMs)), std::vector<int64_t>{});
  }

  // used, remaining, resetInMs, blockedForMs
  std::vector<int64_t> peek(const BucketSpec& b, int64_t nowMs) {
    std::vector<std::string> args;
    appendPeekArgs(b, nowMs, args);
    return evalsha(peekSha_, {redisKeyFor(kPrefix, b)}, args);
  }

  // ---- both stores, compared -------------------------------------------------------------
  struct Both {
    ReserveResult mem;
    ReserveResult red;
    const ReserveResult* operator->() const { return &red; }
  };

  Both reserve(const std::vector<BucketSpec>& buckets, const std::vector<int64_t>& amounts,
               int64_t nowMs, ReserveMode mode = ReserveMode::Reserve) {
    Both b;
    b.mem = mem_->reserve(buckets, amounts, mode, tp(nowMs));
    b.red = redisReserve(buckets, amounts, mode, nowMs);
    EXPECT_EQ(diff(b.mem, b.red), "") << "at " << nowMs;
    return b;
  }
  Both reserve1(const BucketSpec& b, int64_t amount, int64_t nowMs,
                ReserveMode mode = ReserveMode::Reserve) {
    return reserve({b}, {amount}, nowMs, mode);
  }
  void settle(const Both& b, const std::vector<int64_t>& deltas, int64_t nowMs) {
    mem_->settle(b.mem.reservations, deltas, tp(nowMs));
    redisSettle(b.red.reservations, deltas, nowMs);
  }
  // Remaining as a zero-cost CheckOnly probe sees it (on both stores).
  int64_t remainingOf(const BucketSpec& b, int64_t nowMs) {
    return reserve1(b, 0, nowMs, ReserveMode::CheckOnly)->reservations[0].state.remaining;
  }

  static testing::RedisServer* server_;
  bool viaFunctions_ = false;  // run the scripts as the library's functions (FCALL)
  redisContext* ctx_ = nullptr;
  std::string batchSha_, peekSha_;
  std::unique_ptr<MemoryStore> mem_;
};

testing::RedisServer* ScriptsTest::server_ = nullptr;

// Simulated time: 30 days ahead of the real clock (so PEXPIREAT never deletes a key during a
// test and the hash's own expiry field decides, as MemoryStore's does), on an hour boundary.
int64_t simBase() { return (realNowMs() / 3'600'000 + 30 * 24) * 3'600'000; }

// ---- property test -----------------------------------------------------------------------

struct Identity {
  std::string key;
  Algorithm algorithm;
  int64_t windowMs;
  uint64_t limit;
  int64_t penaltyMs;
};

// The property test, with every operation in its own script run (batched = false) or queued
// into batches of random size that run when time moves or at random points (batched = true):
// a batch must give exactly the results of its operations run one by one.
class ScriptsPropertyTest : public ScriptsTest {
 protected:
  void run(bool batched);
};

TEST_F(ScriptsPropertyTest, RandomOperationsGiveTheSameResultsAsMemoryStore) { run(false); }

TEST_F(ScriptsPropertyTest, BatchedRandomOperationsGiveTheSameResultsAsMemoryStore) {
  run(true);
}

// The same operations through the function library, as redis::Client runs them on Redis 7.
class ScriptsFunctionsPropertyTest : public ScriptsPropertyTest {
 protected:
  ScriptsFunctionsPropertyTest() { viaFunctions_ = true; }
};

TEST_F(ScriptsFunctionsPropertyTest, RandomOperationsGiveTheSameResultsAsMemoryStore) {
  run(false);
}

TEST_F(ScriptsFunctionsPropertyTest, BatchedRandomOperationsGiveTheSameResultsAsMemoryStore) {
  run(true);
}

void ScriptsPropertyTest::run(bool batched) {
  // Limits up to 10^12 with day windows take the scripts' exact long division (products above
  // 2^53) while every count stays below the scripts' 2^50 saturation over 400 steps.
  // TG_PROPERTY_SEEDS=n runs more seeds (the default keeps the test around a second).
  const char* env = std::getenv("TG_PROPERTY_SEEDS");
  const int seeds = env != nullptr ? std::atoi(env) : 40;
  const int steps = 400;
  int reserves = 0, admitted = 0, settles = 0, rejected = 0, blocked = 0, tooLarge = 0;
  int totalBatches = 0;
  for (int seed = 1; seed <= seeds; ++seed) {
    std::mt19937_64 rng(static_cast<uint64_t>(seed) * 7919);
    auto pick = [&](auto... v) {
      const int64_t options[] = {static_cast<int64_t>(v)...};
      return options[rng() % sizeof...(v)];
    };
    auto uniform = [&](int64_t lo, int64_t hi) {  // [lo, hi]
      return lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
    };

    std::vector<Identity> ids;
    const int nIds = static_cast<int>(uniform(2, 6));
    for (int j = 0; j < nIds; ++j) {
      Identity id;
      id.key = "rule" + std::to_string(j % 2) + ":consumer:v" + std::to_string(j);
      id.algorithm = static_cast<Algorithm>(uniform(0, 3));
      id.windowMs = id.algorithm == Algorithm::Concurrency
                        ? pick(0, 0, 20, 500, 5000)
                        : pick(1, 3, 10, 100, 1000, 60000, 7, 86'400'000);
      id.limit = static_cast<uint64_t>(pick(0, 1, 2, 3, 5, 10, 10, 10, 100, 100, 100, 1000, 1000,
                                            1000, 1000, 1000000, 1000000, 1'000'000'000'007));
      id.penaltyMs = pick(0, 0, 0, 0, 0, 0, 5, 100, 2000);
      ids.push_back(id);
    }
    // One MemoryStore shard per bucket: MemoryStore's "time never goes back" is per shard, the
    // scripts' per bucket (scripts.h); with distinct shards the two rules are the same.
    for (uint64_t k0 = 1;; ++k0) {
      std::set<uint64_t> shards;
      for (const Identity& id : ids) {
        const auto w = store::paramsFor(spec(id.key, id.algorithm, 0, id.windowMs)).windowMs;
        shards.insert(store::bucketIdFor({k0, 99}, id.key, id.algorithm, w).hi & (kShards - 1));
      }
      if (shards.size() == ids.size()) {
        resetMemory({k0, 99});
        break;
      }
    }
    command({"FLUSHALL"});

    int64_t now = simBase() + uniform(0, 100'000);
    std::deque<Both> pending;  // admitted results, to settle later (maybe much later)
    std::vector<std::string> log;
    std::string failure;
    // Compares one reserve's results and files it; a mismatch is kept in `failure`.
    auto judge = [&](const Both& b, const std::string& what, int step) {
      const std::string d = diff(b.mem, b.red);
      if (!d.empty() && failure.empty()) {
        std::string history;
        for (size_t i = log.size() > 40 ? log.size() - 40 : 0; i < log.size(); ++i) {
          history += "  " + log[i] + "\n";
        }
        failure = "seed " + std::to_string(seed) + " step " + std::to_string(step) + ": " + what +
                  " => " + describe(b.red) + d + "\nhistory:\n" + history;
      }
      switch (b.red.verdict) {
        case Verdict::Admitted:
          ++admitted;
          pending.push_back(b);
          if (pending.size() > 30) {
            pending.pop_front();
          }
          break;
        case Verdict::Blocked:
          ++blocked;
          break;
        case Verdict::TooLarge:
          ++tooLarge;
          break;
        default:
          ++rejected;
          break;
      }
    };
    // Batched mode: the operations queued since the last run, and the reserves among them.
    struct Queued {
      Both b;
      std::vector<BucketSpec> buckets;
      std::string what;
      int step;
    };
    Batch batch;
    std::vector<Queued> queued;
    int batches = 0;
    auto runBatch = [&] {
      if (batch.ops() == 0) {
        return;
      }
      ++batches;
      const std::vector<int64_t> reply = evalsha(batchSha_, batch.keys(), batch.argv(now));
      ASSERT_EQ(reply.size(), batch.replyValues());
      size_t offset = 0;
      for (Queued& q : queued) {
        const size_t n = reserveReplySize(q.buckets.size());
        EXPECT_TRUE(parseReserveReply(std::span(reply).subspan(offset, n), q.buckets, q.b.red));
        offset += n;
        judge(q.b, q.what, q.step);
      }
      batch.clear();
      queued.clear();
    };
    for (int step = 0; step < steps; ++step) {
      const int64_t op = uniform(0, 99);
      std::ostringstream what;
      if (batched && (op < 25 || uniform(0, 99) < 20)) {
        runBatch();  // before time moves: a batch runs at one nowMs
      }
      if (!failure.empty()) {
        FAIL() << failure;
      }
      if (op < 25) {  // time
        const Identity& id = ids[rng() % ids.size()];
        const int64_t w = std::max<int64_t>(id.windowMs, 1);
        const int64_t toBoundary = w - (now % w);
        const int64_t kind = uniform(0, 9);
        int64_t d = 0;
        switch (kind) {
          case 0:
            d = 0;
            break;
          case 1:
            d = 1;
            break;
          case 2:
            d = uniform(0, 10);
            break;
          case 3:
            d = uniform(0, w);
            break;
          case 4:
            d = toBoundary;
            break;
          case 5:
            d = toBoundary - 1;
            break;
          case 6:
            d = uniform(w, 3 * w);
            break;
          case 7:
            d = -uniform(1, 50);
            break;
          case 8:
            d = -uniform(1, w);
            break;
          default:
            d = uniform(0, 3000);
            break;
        }
        now += d;
        what << "time " << (d >= 0 ? "+" : "") << d << " -> " << now;
      } else if (op < 70 || pending.empty()) {  // reserve
        const size_t n = static_cast<size_t>(pick(1, 1, 1, 1, 2, 2, 2, 3, 3, 4));
        std::vector<BucketSpec> buckets;
        std::vector<int64_t> amounts;
        for (size_t i = 0; i < n; ++i) {
          Identity& id = ids[rng() % ids.size()];
          // A threshold edit keeps the counters. Not on the 10^12 buckets: a debt of 10^12
          // at a small limit is a wait beyond 2^52 ms, "never" for the scripts (scripts.h).
          if (uniform(0, 99) < 3 && id.limit <= 1'000'000) {
            id.limit = static_cast<uint64_t>(pick(0, 1, 5, 10, 100, 1000));
          }
          const int64_t lim = static_cast<int64_t>(id.limit);
          buckets.push_back(spec(id.key, id.algorithm, id.limit, id.windowMs, id.penaltyMs));
          amounts.push_back(pick(0, 1, 1, 1, 2, lim / 2, lim / 10, lim / 10, lim, lim + 1,
                                 uniform(0, lim + 2), uniform(0, 5), uniform(0, 5), -3));
        }
        if (uniform(0, 99) < 5 && n >= 1) {  // the same bucket twice in one request
          buckets.push_back(buckets[0]);
          amounts.push_back(uniform(0, 3));
        }
        if (uniform(0, 99) < 5) {
          amounts.pop_back();  // a missing amount counts as 0
        }
        const ReserveMode mode = uniform(0, 3) == 0 ? ReserveMode::CheckOnly : ReserveMode::Reserve;
        Both b;
        b.mem = mem_->reserve(buckets, amounts, mode, tp(now));
        ++reserves;
        what << "reserve " << (mode == ReserveMode::CheckOnly ? "checkonly" : "reserve") << " @"
             << now << ":";
        for (size_t i = 0; i < buckets.size(); ++i) {
          what << " " << buckets[i].key << "/" << static_cast<int>(buckets[i].algorithm) << "/w"
               << buckets[i].window.count() << "/l" << buckets[i].limit << "/p"
               << buckets[i].penalty.count() << " x" << (i < amounts.size() ? amounts[i] : 0);
        }
        if (batched) {
          batch.addReserve(keysOf(buckets), buckets, amounts, mode);
          queued.push_back({b, buckets, what.str(), step});
        } else {
          b.red = redisReserve(buckets, amounts, mode, now);
          judge(b, what.str(), step);
        }
      } else {  // settle one earlier admitted request
        const size_t idx = static_cast<size_t>(rng() % pending.size());
        const Both b = pending[idx];
        if (uniform(0, 1) == 0) {
          pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(idx));
        }
        std::vector<int64_t> deltas;
        for (const Reservation& r : b.red.reservations) {
          const int64_t lim = static_cast<int64_t>(r.bucket.limit);
          deltas.push_back(pick(0, -r.charged, -1, 1, uniform(-r.charged, lim), lim + 3,
                                -uniform(0, 2 * lim + 1), 2 * lim));
        }
        if (uniform(0, 99) < 5) {
          deltas.pop_back();  // missing delta: 0
        }
        mem_->settle(b.mem.reservations, deltas, tp(now));
        if (batched) {
          batch.addSettle(keysOf(b.red.reservations), b.red.reservations, deltas);
        } else {
          redisSettle(b.red.reservations, deltas, now);
        }
        ++settles;
        what << "settle @" << now << ":";
        for (int64_t d : deltas) {
          what << " " << d;
        }
        what << " of " << describe(b.red);
      }
      log.push_back(what.str());
    }
    runBatch();
    if (!failure.empty()) {
      FAIL() << failure;
    }
    totalBatches += batches;
  }
  std::printf(
      "property%s: %d reserves (%d admitted, %d over limit, %d blocked, %d too large), "
      "%d settles, %d batches\n",
      batched ? " (batched)" : "", reserves, admitted, rejected, blocked, tooLarge, settles,
      totalBatches);
  // The generator must reach every outcome, or the comparison proves little.
  if (batched) {
    EXPECT_LT(totalBatches, (reserves + settles) / 2);  // batches of several operations
  }
  EXPECT_GT(admitted, reserves / 5);
  EXPECT_GT(rejected, reserves / 20);
  EXPECT_GT(blocked, 0);
  EXPECT_GT(tooLarge, 0);
}

// ---- targeted cases ------------------------------------------------------------------------

TEST_F(ScriptsTest, FixedWindowBoundariesRefundsAndDebt) {
  const int64_t t0 = simBase();
  const BucketSpec b = spec("tpm:alice", Algorithm::FixedWindow, 100, 60'000);
  Both r = reserve1(b, 60, t0 + 5);
  ASSERT_TRUE(r->admitted());
  EXPECT_EQ(r->reservations[0].charged, 60);
  EXPECT_EQ(r->reservations[0].state.remaining, 40);
  EXPECT_EQ(r->reservations[0].state.resetIn, milliseconds(60'000 - 5));
  EXPECT_EQ(r->reservations[0].windowStart, tp(t0));
  EXPECT_TRUE(reserve1(b, 40, t0 + 6)->admitted());  // exactly the limit
  Both over = reserve1(b, 1, t0 + 59'999);
  EXPECT_EQ(over->verdict, Verdict::OverLimit);
  EXPECT_EQ(over->retryIn, milliseconds(1));
  // Refund of a window that has passed: dropped. Extra charge: to the current window.
  settle(r, {-60}, t0 + 60'000);
  EXPECT_EQ(remainingOf(b, t0 + 60'000), 100);
  settle(r, {30}, t0 + 60'001);
  EXPECT_EQ(remainingOf(b, t0 + 60'002), 70);
  // Debt in the current window: a zero reservation is rejected in Reserve mode, admitted by
  // CheckOnly until used > limit.
  Both cur = reserve1(b, 70, t0 + 60'003);
  ASSERT_TRUE(cur->admitted());
  settle(cur, {40}, t0 + 60'004);
  EXPECT_EQ(remainingOf(b, t0 + 60'005), -40);
  EXPECT_EQ(reserve1(b, 0, t0 + 60'006)->verdict, Verdict::OverLimit);
  EXPECT_EQ(reserve1(b, 0, t0 + 60'006, ReserveMode::CheckOnly)->verdict, Verdict::OverLimit);
  EXPECT_TRUE(reserve1(b, 0, t0 + 120'000)->admitted());  // forgotten at the boundary
}

TEST_F(ScriptsTest, SlidingWindowWeightsThePreviousWindowExactly) {
  const int64_t t0 = simBase();
  const BucketSpec b = spec("s", Algorithm::SlidingWindow, 100, 60'000);
  Both first = reserve1(b, 100, t0);
  ASSERT_TRUE(first->admitted());
  Both r = reserve1(b, 1, t0 + 60'000);
  EXPECT_EQ(r->verdict, Verdict::OverLimit);
  EXPECT_EQ(r->retryIn, milliseconds(600));
  EXPECT_EQ(reserve1(b, 1, t0 + 60'599)->verdict, Verdict::OverLimit);
  EXPECT_TRUE(reserve1(b, 1, t0 + 60'600)->admitted());
  EXPECT_EQ(remainingOf(b, t0 + 90'000), 49);  // half of 100 still weighs, plus 1
  // A refund into the previous window still counts; two windows back it is dropped.
  settle(first, {-50}, t0 + 90'000);
  EXPECT_EQ(remainingOf(b, t0 + 90'000), 74);
  settle(first, {-50}, t0 + 120'000);
  Both late = reserve1(b, 0, t0 + 120'000, ReserveMode::CheckOnly);
  EXPECT_EQ(late->reservations[0].state.remaining, 99);
  EXPECT_EQ(late->reservations[0].state.resetIn, milliseconds(60'000));
}

TEST_F(ScriptsTest, TokenBucketRefillIsExactAndDebtDelays) {
  const int64_t t0 = simBase() + 17;
  const BucketSpec b = spec("tb", Algorithm::TokenBucket, 100, 60'000);  // 1 per 600 ms
  Both r = reserve1(b, 100, t0);
  ASSERT_TRUE(r->admitted());
  EXPECT_EQ(r->reservations[0].state.resetIn, milliseconds(60'000));
  settle(r, {50}, t0);  // used 150: 50 in debt
  EXPECT_EQ(remainingOf(b, t0), -50);
  Both o = reserve1(b, 1, t0);
  EXPECT_EQ(o->verdict, Verdict::OverLimit);
  EXPECT_EQ(o->retryIn, milliseconds(51 * 600));
  EXPECT_EQ(reserve1(b, 1, t0 + 51 * 600 - 1)->verdict, Verdict::OverLimit);
  Both ok = reserve1(b, 1, t0 + 51 * 600);
  EXPECT_TRUE(ok->admitted());
  // Refunds never beyond the capacity.
  settle(ok, {-1000}, t0 + 51 * 600);
  EXPECT_EQ(remainingOf(b, t0 + 51 * 600), 100);
  // Fractions: 7 per 1000 ms; 1 token each 142.857... ms, kept exactly.
  const BucketSpec f = spec("frac", Algorithm::TokenBucket, 7, 1000);
  ASSERT_TRUE(reserve1(f, 7, t0)->admitted());
  for (int64_t ms : {142, 143, 285, 286, 571, 572, 999, 1000}) {
    Both p = reserve1(f, 0, t0 + ms, ReserveMode::CheckOnly);
    EXPECT_EQ(p->reservations[0].state.remaining, ms * 7 / 1000) << ms;
  }
}

TEST_F(ScriptsTest, TokenBucketOfLimitZeroInDebtNeverRecovers) {
  const int64_t t0 = simBase();
  const BucketSpec b = spec("zero", Algorithm::TokenBucket, 0, 1000);
  Both r = reserve1(b, 0, t0, ReserveMode::CheckOnly);
  ASSERT_TRUE(r->admitted());
  settle(r, {5}, t0);
  Both o = reserve1(b, 0, t0 + 10, ReserveMode::CheckOnly);
  EXPECT_EQ(o->verdict, Verdict::OverLimit);
  EXPECT_EQ(o->retryIn.count(), store::kNeverMs);
  EXPECT_EQ(o->reservations[0].state.resetIn.count(), store::kNeverMs);
  EXPECT_EQ(command({"PTTL", redisKeyFor(kPrefix, b)}), "-1");  // no expiry: debt forever
  // Reserve mode: TooLarge (need 1 > limit 0), retry 0.
  Both t = reserve1(b, 0, t0 + 10);
  EXPECT_EQ(t->verdict, Verdict::TooLarge);
  EXPECT_EQ(t->retryIn.count(), 0);
}

TEST_F(ScriptsTest, ConcurrencyHoldsSlotsAndTheLeaseFreesLeakedOnes) {
  const int64_t t0 = simBase();
  const BucketSpec b = spec("inflight", Algorithm::Concurrency, 2, 5'000);
  Both a = reserve1(b, 1, t0);
  Both c = reserve1(b, 1, t0 + 1);
  ASSERT_TRUE(a->admitted() && c->admitted());
  Both o = reserve1(b, 1, t0 + 2, ReserveMode::CheckOnly);  // still counted in CheckOnly
  EXPECT_EQ(o->verdict, Verdict::OverLimit);
  EXPECT_EQ(o->retryIn.count(), 0);  // unknown
  settle(a, {-1}, t0 + 3);
  settle(a, {-1}, t0 + 4);
  settle(a, {-1}, t0 + 5);  // never below zero
  EXPECT_EQ(remainingOf(b, t0 + 6), 2);
  ASSERT_TRUE(reserve1(b, 1, t0 + 7)->admitted());
  ASSERT_TRUE(reserve1(b, 1, t0 + 8)->admitted());
  EXPECT_EQ(reserve1(b, 1, t0 + 5'000)->verdict, Verdict::OverLimit);
  // Untouched for the lease while not at zero: reset (the holders crashed).
  EXPECT_TRUE(reserve1(b, 1, t0 + 8 + 5'000 + 1)->admitted());
}

TEST_F(ScriptsTest, PenaltyStartsWithTheRejectionAndRetriesDoNotExtendIt) {
  const int64_t t0 = simBase();
  const BucketSpec b = spec("pen", Algorithm::FixedWindow, 2, 1'000, 10'000);
  ASSERT_TRUE(reserve1(b, 2, t0)->admitted());
  Both o = reserve1(b, 1, t0 + 10);
  EXPECT_EQ(o->verdict, Verdict::OverLimit);
  EXPECT_EQ(o->retryIn, milliseconds(10'000));
  const std::string key = redisKeyFor(kPrefix, b);
  EXPECT_EQ(field(key, 'b'), std::to_string(t0 + 10'010));
  // Blocked even after the window reset; retries change nothing.
  Both bl = reserve1(b, 1, t0 + 5'000);
  EXPECT_EQ(bl->verdict, Verdict::Blocked);
  EXPECT_EQ(bl->retryIn, milliseconds(5'010));
  EXPECT_EQ(reserve1(b, 1, t0 + 10'009)->verdict, Verdict::Blocked);
  EXPECT_EQ(field(key, 'b'), std::to_string(t0 + 10'010));
  EXPECT_EQ(command({"PEXPIRETIME", key}), std::to_string(t0 + 10'010));
  EXPECT_TRUE(reserve1(b, 1, t0 + 10'010)->admitted());
}

TEST_F(ScriptsTest, AllOrNothingAndTheDecisiveBucket) {
  const int64_t t0 = simBase();
  const BucketSpec big = spec("global", Algorithm::FixedWindow, 1000, 60'000);
  const BucketSpec small = spec("consumer:bob", Algorithm::TokenBucket, 10, 60'000, 100);
  const BucketSpec huge = spec("tiny", Algorithm::SlidingWindow, 3, 60'000);
  ASSERT_TRUE(reserve1(small, 8, t0)->admitted());
  Both r = reserve({big, small}, {50, 5}, t0);
  EXPECT_EQ(r->verdict, Verdict::OverLimit);
  EXPECT_EQ(r->decisiveIndex, 1u);
  EXPECT_EQ(r->reservations[0].charged, 0);
  EXPECT_EQ(r->reservations[0].state.remaining, 1000);
  EXPECT_EQ(r->retryIn, milliseconds(18'000));  // 3 tokens at 1 per 6 s (block: 100 ms)
  EXPECT_EQ(remainingOf(big, t0), 1000);
  // TooLarge decides over an earlier blocked bucket, and its retry is 0.
  Both t = reserve({big, small, huge}, {1, 1, 4}, t0 + 1);
  EXPECT_EQ(t->verdict, Verdict::TooLarge);
  EXPECT_EQ(t->decisiveIndex, 2u);
  EXPECT_EQ(t->retryIn.count(), 0);
  EXPECT_EQ(t->reservations[1].state.verdict, Verdict::Blocked);
  // The same bucket twice counts twice.
  Both d = reserve({big, big}, {600, 400}, t0 + 2);
  ASSERT_TRUE(d->admitted());
  EXPECT_EQ(d->reservations[0].state.remaining, 0);
  EXPECT_EQ(reserve({big, big}, {0, 1}, t0 + 3)->decisiveIndex, 0u);
}

TEST_F(ScriptsTest, ClockSteppingBackIsNoTimePassedForTheBucket) {
  const int64_t t0 = simBase();
  const BucketSpec b = spec("back", Algorithm::FixedWindow, 5, 1'000);
  ASSERT_TRUE(reserve1(b, 5, t0 + 1'500)->admitted());
  Both r = reserve1(b, 1, t0 + 900);  // an earlier window: stays in the later one
  EXPECT_EQ(r->verdict, Verdict::OverLimit);
  EXPECT_EQ(r->reservations[0].windowStart, tp(t0 + 1'000));
  EXPECT_EQ(r->retryIn, milliseconds(500));
  int64_t used = 0;
  redisReserve(std::vector{b}, std::vector<int64_t>{0}, ReserveMode::CheckOnly, t0 + 100, &used);
  EXPECT_EQ(used, t0 + 1'500);
}

TEST_F(ScriptsTest, EveryBucketGetsAnExpiryAndIdleOnesVanish) {
  // Real time (nowMs = 0: the server's TIME) and a short window.
  const BucketSpec b = spec("short", Algorithm::FixedWindow, 10, 200);
  const BucketSpec c = spec("short:conc", Algorithm::Concurrency, 10, 300);
  ReserveResult r =
      redisReserve(std::vector{b, c}, std::vector<int64_t>{3, 1}, ReserveMode::Reserve, 0);
  ASSERT_TRUE(r.admitted());
  const int64_t pttl = std::stoll(command({"PTTL", redisKeyFor(kPrefix, b)}));
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 200);
  const int64_t pttlC = std::stoll(command({"PTTL", redisKeyFor(kPrefix, c)}));
  EXPECT_GT(pttlC, 0);
  EXPECT_LE(pttlC, 300);
  std::this_thread::sleep_for(milliseconds(450));
  EXPECT_EQ(command({"EXISTS", redisKeyFor(kPrefix, b)}), "0");
  EXPECT_EQ(command({"EXISTS", redisKeyFor(kPrefix, c)}), "0");
  // A released concurrency slot leaves nothing behind either.
  ReserveResult s = redisReserve(std::vector{c}, std::vector<int64_t>{1}, ReserveMode::Reserve, 0);
  ASSERT_TRUE(s.admitted());
  EXPECT_EQ(command({"EXISTS", redisKeyFor(kPrefix, c)}), "1");
  redisSettle(s.reservations, std::vector<int64_t>{-1}, 0);
  EXPECT_EQ(command({"EXISTS", redisKeyFor(kPrefix, c)}), "0");
}

TEST_F(ScriptsTest, ServerTimeIsUsedWhenNowIsZero) {
  const BucketSpec b = spec("srv", Algorithm::FixedWindow, 10, 60'000);
  const int64_t before = realNowMs();
  int64_t used = 0;
  ReserveResult r =
      redisReserve(std::vector{b}, std::vector<int64_t>{1}, ReserveMode::Reserve, 0, &used);
  const int64_t after = realNowMs();
  ASSERT_TRUE(r.admitted());
  EXPECT_GE(used, before - 1'000);  // same host: the clocks agree to the millisecond, roughly
  EXPECT_LE(used, after + 1'000);
  EXPECT_EQ(store::toMillis(r.reservations[0].windowStart), used / 60'000 * 60'000);
  EXPECT_EQ(r.reservations[0].state.resetIn.count(),
            store::toMillis(r.reservations[0].windowStart) + 60'000 - used);
  redisSettle(r.reservations, std::vector<int64_t>{4}, 0);
  EXPECT_EQ(peek(b, 0)[0], 5);
}

TEST_F(ScriptsTest, PeekReportsAndChangesNothing) {
  const int64_t t0 = simBase();
  const BucketSpec f = spec("pk:f", Algorithm::FixedWindow, 100, 60'000, 5'000);
  const BucketSpec t = spec("pk:t", Algorithm::TokenBucket, 100, 60'000);
  EXPECT_EQ(peek(f, t0), (std::vector<int64_t>{0, 100, 0, 0}));  // never seen
  EXPECT_EQ(command({"EXISTS", redisKeyFor(kPrefix, f)}), "0");
  ASSERT_TRUE(reserve1(f, 100, t0 + 10)->admitted());
  ASSERT_EQ(reserve1(f, 1, t0 + 20)->verdict, Verdict::OverLimit);  // blocked until t0+5020
  ASSERT_TRUE(reserve1(t, 30, t0 + 10)->admitted());
  const std::string before =
      command({"DUMP", redisKeyFor(kPrefix, f)}) + command({"DUMP", redisKeyFor(kPrefix, t)});
  const std::string ttl = command({"PEXPIRETIME", redisKeyFor(kPrefix, f)});
  EXPECT_EQ(peek(f, t0 + 1'000), (std::vector<int64_t>{100, 0, 59'000, 4'020}));
  EXPECT_EQ(peek(f, t0 + 60'000), (std::vector<int64_t>{0, 100, 0, 0}));  // next window
  EXPECT_EQ(peek(t, t0 + 610), (std::vector<int64_t>{29, 71, 17'400, 0}));
  EXPECT_EQ(command({"DUMP", redisKeyFor(kPrefix, f)}) + command({"DUMP", redisKeyFor(kPrefix, t)}),
            before);
  EXPECT_EQ(command({"PEXPIRETIME", redisKeyFor(kPrefix, f)}), ttl);
  // Peek agrees with what a reserve reports.
  Both r = reserve1(t, 0, t0 + 610, ReserveMode::CheckOnly);
  EXPECT_EQ(r->reservations[0].state.remaining, 71);
  EXPECT_EQ(r->reservations[0].state.resetIn, milliseconds(17'400));
}

TEST_F(ScriptsTest, HugeValuesAreClampedNotCorrupted) {
  const int64_t t0 = simBase();
  // 2^62 limit: clamped to 2^50 (documented); exact arithmetic below it.
  const BucketSpec b = spec("big", Algorithm::TokenBucket, uint64_t{1} << 62, 86'400'000);
  ReserveResult r = redisReserve(std::vector{b}, std::vector<int64_t>{int64_t{1} << 60},
                                 ReserveMode::Reserve, t0);
  ASSERT_TRUE(r.admitted());
  EXPECT_EQ(r.reservations[0].charged, kScriptMaxCount);
  EXPECT_EQ(r.reservations[0].state.remaining, 0);
  // Large but below the clamp: the same as MemoryStore, to the unit and the millisecond.
  const uint64_t lim = 999'999'999'999'989;  // ~2^49.8, a prime-ish limit per day
  const BucketSpec d = spec("day", Algorithm::TokenBucket, lim, 86'400'000);
  const BucketSpec s = spec("sday", Algorithm::SlidingWindow, lim, 86'400'000);
  // (reserve() compares every result with MemoryStore's.)
  ASSERT_TRUE(
      reserve({d, s}, {static_cast<int64_t>(lim), static_cast<int64_t>(lim - 7)}, t0)->admitted());
  int admitted = 0;
  for (int64_t ms : {1, 7, 1'000, 86'399'999, 86'400'000 + 13, 2 * 86'400'000 - 3}) {
    admitted += reserve({d, s}, {static_cast<int64_t>(lim / 3), 5}, t0 + ms)->admitted() ? 1 : 0;
  }
  EXPECT_GT(admitted, 0);
}

TEST_F(ScriptsTest, FunctionLibraryHoldsEveryScriptUnderVersionedNames) {
  const FunctionLibrary& lib = storeFunctionLibrary();
  ASSERT_EQ(lib.name.size(), std::string("tokengate_").size() + 12) << lib.name;
  EXPECT_TRUE(lib.name.starts_with("tokengate_")) << lib.name;
  EXPECT_TRUE(lib.code.starts_with("#!lua name=" + lib.name + "\n"));
  ASSERT_EQ(lib.functions.size(), 3u);
  EXPECT_EQ(functionOf(batchSha_), lib.name + "_batch");
  EXPECT_EQ(functionOf(peekSha_), lib.name + "_peek");
  const std::string quotaSha = command({"SCRIPT", "LOAD", std::string(quotaChargeScriptText())});
  EXPECT_EQ(functionOf(quotaSha), lib.name + "_quota_charge");

  const std::string loaded = command({"FUNCTION", "LOAD", "REPLACE", lib.code});
  if (loaded.starts_with("ERR unknown command")) {
    GTEST_SKIP() << "this redis-server has no Redis Functions (Redis < 7)";
  }
  ASSERT_EQ(loaded, lib.name);
  EXPECT_EQ(command({"FUNCTION", "LOAD", "REPLACE", lib.code}), lib.name);  // idempotent
  // peek writes nothing: flagged no-writes, so FCALL_RO runs it.
  std::set<std::string> functions;  // "name=flag,flag" from FUNCTION LIST
  redisReply* list = run({"FUNCTION", "LIST", "LIBRARYNAME", lib.name});
  ASSERT_EQ(list->type, REDIS_REPLY_ARRAY);
  ASSERT_EQ(list->elements, 1u);
  const redisReply* library = list->element[0];  // library_name, engine, functions, ...
  for (size_t i = 0; i + 1 < library->elements; i += 2) {
    if (std::string_view(library->element[i]->str) != "functions") {
      continue;
    }
    const redisReply* fs = library->element[i + 1];
    for (size_t j = 0; j < fs->elements; ++j) {
      const redisReply* f = fs->element[j];  // name, <name>, description, nil, flags, [...]
      std::string line = std::string(f->element[1]->str) + "=";
      for (size_t k = 0; k < f->element[5]->elements; ++k) {
        line += (k > 0 ? "," : "") + std::string(f->element[5]->element[k]->str);
      }
      functions.insert(line);
    }
  }
  freeReplyObject(list);
  const std::string listed = [&] {
    std::string out;
    for (const std::string& f : functions) {
      out += (out.empty() ? "" : " ") + f;
    }
    return out;
  }();
  EXPECT_EQ(listed,
            lib.name + "_batch= " + lib.name + "_peek=no-writes " + lib.name + "_quota_charge=");
  const int64_t t0 = simBase();
  const BucketSpec b = spec("fn", Algorithm::FixedWindow, 100, 60'000);
  ASSERT_TRUE(reserve1(b, 40, t0)->admitted());
  std::vector<std::string> args;
  appendPeekArgs(b, t0 + 1, args);
  std::vector<std::string> cmd = {"FCALL_RO", lib.name + "_peek", "1", redisKeyFor(kPrefix, b)};
  cmd.insert(cmd.end(), args.begin(), args.end());
  redisReply* r = run(cmd);
  ASSERT_EQ(r->type, REDIS_REPLY_ARRAY) << (r->str != nullptr ? r->str : "");
  ASSERT_EQ(r->elements, 4u);
  EXPECT_EQ(r->element[0]->integer, 40);
  EXPECT_EQ(r->element[1]->integer, 60);
  freeReplyObject(r);
  // quota charge: DECRBY only an existing quota.
  const std::string fq = lib.name + "_quota_charge";
  EXPECT_EQ(command({"FCALL", fq, "1", "tg:quota:{c}", "30"}), "");
  EXPECT_EQ(command({"EXISTS", "tg:quota:{c}"}), "0");
  command({"SET", "tg:quota:{c}", "100"});
  EXPECT_EQ(command({"FCALL", fq, "1", "tg:quota:{c}", "30"}), "70");
}

}  // namespace
}  // namespace tg::redis
