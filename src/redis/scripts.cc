#include "redis/scripts.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <iterator>
#include <string>

#include "redis/lua_scripts.h"
#include "store/algorithm.h"

namespace tg::redis {
namespace {

// ---- Lua ----------------------------------------------------------------------------------
// The prelude is store/algorithm.cc transcribed function by function (same names, same
// branches), over Lua numbers (doubles). Exactness: every count, limit, amount and delta is
// within +-2^50 (the C++ side clamps the arguments, the scripts saturate at MAXC = 2^50 where
// algorithm.cc saturates at 2^62), every time and window below 2^52, so sums of a few of them
// stay below 2^53 and are exact. Products (elapsed * limit, previous * (W - elapsed), deficit *
// W) can exceed 2^53: muldiv computes floor(a*b/c) and the remainder exactly with a bit-serial
// long division whose every intermediate stays below 2^53 (fast path when a*b < 2^52).
//
// One Redis string per bucket, six packed doubles (scripts.h):
//   s  stampMs    c  current    p  previous      (store/algorithm.h Counters)
//   b  blocked until (ms, 0 = none)
//   x  expiry on the operations' clock (-1 = never): a bucket still present but with x <= now
//      is one "forgotten" in MemoryStore's sense and starts fresh (Redis deletes it at x on
//      its own clock; with nowMs = 0 both clocks are the same)
//   t  the latest time an operation on this bucket ran at: time never goes backwards for a
//      bucket (MemoryStore keeps this per shard; see scripts.h).
using lua::kPrelude;  // src/redis/lua/prelude.lua, embedded at build time (redis/lua_scripts.h)

// batch: reserve and settle operations one after the other, exactly as separate runs of one
// operation each would do them (store/memory_store.cc reserveInto and settle, step by step),
// but each bucket's hash is read once and written once per run, and the arguments are read
// with struct.unpack (Lua's tonumber costs ~140 ns a number inside Redis, unpack ~25 ns).
// Per-bucket working state lives in arrays reused by every operation of the run: a Lua table
// costs ~250 ns to create.
using lua::kBatch;  // src/redis/lua/batch.lua

// peek: reserve's reporting for one bucket, on a copy; writes nothing.
using lua::kPeek;  // src/redis/lua/peek.lua

int64_t clampCount(int64_t v) { return std::clamp<int64_t>(v, -kScriptMaxCount, kScriptMaxCount); }
int64_t clampNonNegative(int64_t v) { return std::clamp<int64_t>(v, 0, kScriptMaxCount); }

// The bucket's parameters as the scripts receive them: store::paramsFor, then clamped.
store::Params scriptParams(const store::BucketSpec& spec) {
  store::Params p = store::paramsFor(spec);
  p.limit = clampNonNegative(p.limit);
  p.windowMs = clampNonNegative(p.windowMs);
  return p;
}

std::string_view algorithmName(store::Algorithm a) {
  switch (a) {
    case store::Algorithm::FixedWindow:
      return "fixed";
    case store::Algorithm::SlidingWindow:
      return "sliding";
    case store::Algorithm::TokenBucket:
      return "token";
    case store::Algorithm::Concurrency:
      return "concurrency";
    case store::Algorithm::Quota:
      return "quota";
  }
  return "unknown";
}

std::chrono::milliseconds replyMs(int64_t v) {
  return std::chrono::milliseconds(v == -1 ? store::kNeverMs : v);
}

bool validVerdict(int64_t v) {
  return v >= 0 && v <= static_cast<int64_t>(store::Verdict::StoreError);
}

}  // namespace

std::string_view batchScriptText() {
  static const std::string text = std::string(kPrelude) + std::string(kBatch);
  return text;
}

std::string_view peekScriptText() {
  static const std::string text = std::string(kPrelude) + std::string(kPeek);
  return text;
}

std::string_view quotaChargeScriptText() {
  // DECRBY only an existing quota: no quota = unlimited, and a charge must not create one.
  return "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
         "  return redis.call('DECRBY', KEYS[1], ARGV[1])\n"
         "end\n"
         "return false\n";
}

namespace {

// The library's functions: name suffix, register_function flags, and the script each runs.
// A callback's body is the script's whole EVAL text, prelude included: a library's top-level
// code runs at FUNCTION LOAD with almost no globals (not even math or struct), so the prelude
// cannot be hoisted out of the callbacks as it stands, and each function then computes
// exactly what EVAL of its script does, at the same cost.
struct StoreFunction {
  std::string_view suffix;
  std::string_view flags;
  std::string_view text;
};

std::vector<StoreFunction> storeFunctions() {
  return {{"batch", "", batchScriptText()},
          {"peek", ", flags={'no-writes'}", peekScriptText()},
          {"quota_charge", "", quotaChargeScriptText()}};
}

// The library's code with `name` as its name and its functions' prefix (scripts.h).
std::string libraryCode(std::string_view name) {
  std::string code;
  code.append("#!lua name=").append(name).append("\n");
  code.append(
      "-- tokengate's store scripts (src/redis/lua/*.lua, built by src/redis/scripts.cc)\n");
  for (const StoreFunction& f : storeFunctions()) {
    code.append("redis.register_function{function_name='").append(name).append("_");
    code.append(f.suffix).append("', callback=function(KEYS, ARGV)\n");
    code.append(f.text);
    code.append("\nend").append(f.flags).append("}\n");
  }
  return code;
}

FunctionLibrary buildStoreFunctionLibrary() {
  FunctionLibrary lib;
  lib.name = "tokengate_" + Script(libraryCode("")).sha1.substr(0, 12);
  lib.code = libraryCode(lib.name);
  for (const StoreFunction& f : storeFunctions()) {
    lib.functions.push_back(
        {lib.name + "_" + std::string(f.suffix), Script(std::string(f.text)).sha1});
  }
  return lib;
}

}  // namespace

const FunctionLibrary& storeFunctionLibrary() {
  static const FunctionLibrary lib = buildStoreFunctionLibrary();
  return lib;
}

std::string_view hashTagOf(std::string_view bucketKey) {
  const size_t colon = bucketKey.rfind(':');
  return colon == std::string_view::npos ? bucketKey : bucketKey.substr(colon + 1);
}

std::string redisKeyFor(std::string_view prefix, const store::BucketSpec& spec) {
  if (spec.algorithm == store::Algorithm::Quota) {
    std::string key;
    key.reserve(prefix.size() + spec.key.size() + 8);
    key.append(prefix).append("quota:{").append(spec.key).append("}");
    return key;
  }
  const std::string_view tag = hashTagOf(spec.key);
  const std::string_view alg = algorithmName(spec.algorithm);
  const std::string window = std::to_string(scriptParams(spec).windowMs);
  std::string key;
  key.reserve(prefix.size() + tag.size() + spec.key.size() + alg.size() + window.size() + 4);
  key.append(prefix).append("{").append(tag).append("}").append(spec.key);
  key.append("|").append(alg).append("|").append(window);
  return key;
}

namespace {

void appendDouble(std::string& out, int64_t v) {
  // The scripts read little-endian IEEE doubles (struct.unpack '<d'); every value is an integer
  // below 2^53 in magnitude (clamped), so the conversion is exact.
  const double d = static_cast<double>(v);
  char bytes[sizeof d];
  std::memcpy(bytes, &d, sizeof d);
  if constexpr (std::endian::native == std::endian::big) {
    std::reverse(std::begin(bytes), std::end(bytes));
  }
  out.append(bytes, sizeof bytes);
}

}  // namespace

Batch::Batch() { clear(); }

void Batch::clear() {
  keys_.clear();
  keyIndex_.clear();
  descs_.clear();
  ops_.clear();
  opCount_ = 0;
  replyValues_ = 0;
}

size_t Batch::descriptor(const std::string& key, const store::BucketSpec& spec) {
  // A key's first descriptor is found through the map; a key with several (its limit edited
  // by a reload between two operations of the batch) is rare, and found by a scan from there.
  auto [it, added] = keyIndex_.try_emplace(key, KeyEntry{keys_.size(), descs_.size()});
  if (added) {
    keys_.push_back(key);
  }
  const store::Params p = scriptParams(spec);
  const Desc want{it->second.index, static_cast<int64_t>(spec.algorithm), p.limit, p.windowMs,
                  clampNonNegative(spec.penalty.count())};
  for (size_t i = it->second.firstDesc; i < descs_.size(); ++i) {
    if (descs_[i] == want) {
      return i;
    }
  }
  descs_.push_back(want);
  return descs_.size() - 1;
}

void Batch::addReserve(std::span<const std::string> keys,
                       std::span<const store::BucketSpec> buckets,
                       std::span<const int64_t> amounts, store::ReserveMode mode) {
  appendDouble(ops_, mode == store::ReserveMode::CheckOnly ? 1 : 0);
  appendDouble(ops_, static_cast<int64_t>(buckets.size()));
  for (size_t i = 0; i < buckets.size(); ++i) {
    appendDouble(ops_, static_cast<int64_t>(descriptor(keys[i], buckets[i]) + 1));
    appendDouble(ops_, clampNonNegative(i < amounts.size() ? amounts[i] : 0));
  }
  ++opCount_;
  replyValues_ += reserveReplySize(buckets.size());
}

void Batch::addSettle(std::span<const std::string> keys,
                      std::span<const store::Reservation> reservations,
                      std::span<const int64_t> deltas) {
  appendDouble(ops_, 2);
  appendDouble(ops_, static_cast<int64_t>(reservations.size()));
  for (size_t i = 0; i < reservations.size(); ++i) {
    const store::Reservation& r = reservations[i];
    appendDouble(ops_, static_cast<int64_t>(descriptor(keys[i], r.bucket) + 1));
    appendDouble(ops_, store::toMillis(r.windowStart));
    appendDouble(ops_, clampCount(i < deltas.size() ? deltas[i] : 0));
  }
  ++opCount_;
}

std::vector<std::string> Batch::argv(int64_t nowMs) const {
  std::string data;
  data.reserve(8 + descs_.size() * 40 + ops_.size());
  appendDouble(data, static_cast<int64_t>(descs_.size()));
  for (const Desc& d : descs_) {
    appendDouble(data, static_cast<int64_t>(d.key + 1));
    appendDouble(data, d.algorithm);
    appendDouble(data, d.limit);
    appendDouble(data, d.windowMs);
    appendDouble(data, d.penaltyMs);
  }
  data += ops_;
  return {std::to_string(nowMs), std::move(data)};
}

bool parseReserveReply(std::span<const int64_t> values, std::span<const store::BucketSpec> buckets,
                       store::ReserveResult& out) {
  const size_t n = buckets.size();
  if (values.size() != 4 + 6 * n || !validVerdict(values[0]) || values[1] < 0 ||
      (n > 0 ? static_cast<uint64_t>(values[1]) >= n : values[1] != 0) || values[2] < -1) {
    return false;
  }
  for (size_t i = 0; i < n; ++i) {
    const int64_t* v = &values[4 + 6 * i];
    if (!validVerdict(v[0]) || v[1] < 0 || v[4] < -1 || v[5] < -1) {
      return false;
    }
  }
  out.verdict = static_cast<store::Verdict>(values[0]);
  out.decisiveIndex = static_cast<size_t>(values[1]);
  out.retryIn = replyMs(values[2]);
  out.reservations.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t* v = &values[4 + 6 * i];
    store::Reservation& r = out.reservations[i];
    r.bucket = buckets[i];
    r.windowStart = store::TimePoint(std::chrono::milliseconds(v[2]));
    r.charged = v[1];
    r.id = {};
    r.state.verdict = static_cast<store::Verdict>(v[0]);
    r.state.limit = buckets[i].limit;
    r.state.remaining = v[3];
    r.state.resetIn = replyMs(v[4]);
    r.state.retryIn = replyMs(v[5]);
  }
  return true;
}

void appendPeekArgs(const store::BucketSpec& bucket, int64_t nowMs,
                    std::vector<std::string>& argv) {
  const store::Params p = scriptParams(bucket);
  argv.push_back(std::to_string(nowMs));
  argv.push_back(std::to_string(static_cast<int>(bucket.algorithm)));
  argv.push_back(std::to_string(p.limit));
  argv.push_back(std::to_string(p.windowMs));
}

}  // namespace tg::redis
