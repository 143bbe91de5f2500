#include "redis/scripts.h"

#include <algorithm>
#include <chrono>
#include <string>

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
// One Redis hash per bucket, fields (decimal integers):
//   s  stampMs    c  current    p  previous      (store/algorithm.h Counters)
//   b  blocked until (ms, 0 = none)
//   x  expiry on the operations' clock (-1 = never): a hash still present but with x <= now
//      is a bucket "forgotten" in MemoryStore's sense and starts fresh (PEXPIREAT deletes it
//      on the Redis clock; with nowMs = 0 both clocks are the same)
//   t  the latest time an operation on this bucket ran at: time never goes backwards for a
//      bucket (MemoryStore keeps this per shard; see scripts.h).
constexpr std::string_view kPrelude = R"lua(
local MAXC = 1125899906842624
local TWO52 = 4503599627370496
local NEVER = math.huge
local FW, SW, TB, CC = 0, 1, 2, 3
local ADMITTED, OVER, BLOCKED, TOOLARGE = 0, 1, 2, 3

local function sat(v)
  if v > MAXC then return MAXC elseif v < -MAXC then return -MAXC end
  return v
end
local function addSat(a, b) return sat(a + b) end

-- floor(a / b) and a mod b for integers, |a| < 2^52, 1 <= b <= 2^50: exact.
local function fdivmod(a, b)
  local q = math.floor(a / b)
  local r = a - q * b
  if r < 0 then q = q - 1; r = r + b elseif r >= b then q = q + 1; r = r - b end
  return q, r
end

-- floor(a*b/c) and (a*b) mod c, exact, for 0 <= a, b < 2^52 and 1 <= c <= 2^50. A quotient
-- of 2^52 or more is returned as 2^52 (saturated; the remainder is then meaningless).
local function muldiv(a, b, c)
  local prod = a * b
  if prod < TWO52 then return fdivmod(prod, c) end
  local qa, ra = fdivmod(a, c)
  local q = qa * b
  if q >= TWO52 then return TWO52, 0 end
  -- ra*b = q2*c + r, by the bits of b from the top; invariant r < c, all terms < 2^53.
  local hi = 1
  while hi * 2 <= b do hi = hi * 2 end
  local q2, r = 0, 0
  while hi >= 1 do
    q2 = q2 * 2
    if r >= c - r then r = r - (c - r); q2 = q2 + 1 else r = r + r end
    if b >= hi then
      b = b - hi
      if r >= c - ra then r = r - (c - ra); q2 = q2 + 1 else r = r + ra end
    end
    hi = hi / 2
  end
  q = q + q2
  if q >= TWO52 then return TWO52, 0 end
  return q, r
end

local function windowed(alg) return alg == FW or alg == SW end

local function windowStartMs(alg, W, now)
  if not windowed(alg) then return now end
  local q = fdivmod(now, W)
  return q * W
end

local function freshCounters(e, alg, limit, W, now)
  e.s = windowStartMs(alg, W, now)
  e.c = 0
  e.p = 0
  if alg == TB then e.c = limit end
end

local function advance(e, alg, limit, W, now)
  if windowed(alg) then
    local start = windowStartMs(alg, W, math.max(now, e.s))
    if start == e.s then return end
    if start - e.s == W then e.p = e.c else e.p = 0 end
    e.c = 0
    e.s = start
  elseif alg == TB then
    if now <= e.s then return end
    local elapsed = now - e.s
    e.s = now
    if e.c >= limit then e.c = limit; e.p = 0; return end
    -- units = elapsed*limit + previous = q*W + r
    local q, r = muldiv(elapsed, limit, W)
    r = r + e.p
    if r >= W then q = q + 1; r = r - W end
    if e.c + q >= limit then e.c = limit; e.p = 0 else e.c = e.c + q; e.p = r end
  end
end

local function remaining(e, alg, limit, W, now)
  if alg == FW or alg == CC then return sat(limit - e.c) end
  if alg == SW then
    local elapsed = math.max(now, e.s) - e.s
    local q, r = muldiv(e.p, W - elapsed, W)
    if r ~= 0 then q = q + 1 end
    return sat(limit - e.c - q)
  end
  return e.c
end

local function charge(e, alg, amount, now)
  amount = math.max(amount, 0)
  if alg == TB then e.c = addSat(e.c, -amount); return end
  e.c = addSat(e.c, amount)
  if alg == CC then e.s = math.max(e.s, now) end
end

local function uncharge(e, alg, amount)
  amount = math.max(amount, 0)
  if alg == TB then e.c = addSat(e.c, amount) else e.c = addSat(e.c, -amount) end
end

local function settleInto(e, alg, limit, W, reservedStart, delta, now)
  if delta == 0 then return end
  if windowed(alg) then
    local slot
    if reservedStart == e.s then slot = 'c'
    elseif alg == SW and reservedStart == e.s - W then slot = 'p'
    elseif delta > 0 then slot = 'c'
    else return end
    e[slot] = math.max(addSat(e[slot], delta), 0)
  elseif alg == TB then
    e.c = addSat(e.c, -delta)
    if e.c >= limit then e.c = limit; e.p = 0 end
  else
    e.c = math.max(addSat(e.c, delta), 0)
    e.s = math.max(e.s, now)
  end
end

-- TokenBucket: ms until the balance (c + p/W) reaches `target` whole tokens.
local function tokenWaitMs(e, limit, W, target)
  if e.c >= target then return 0 end
  if limit == 0 then return NEVER end
  -- deficit = (target - c)*W - p = q*limit + (r - p); wait = ceil(deficit / limit)
  local q, r = muldiv(target - e.c, W, limit)
  if q >= TWO52 then return NEVER end
  local d = r - e.p
  local wait
  if d > 0 then wait = q + 1 else wait = q - fdivmod(-d, limit) end
  return wait
end

local function retryInMs(e, alg, limit, W, now, need)
  if need > limit then return NEVER end
  if remaining(e, alg, limit, W, now) >= need then return 0 end
  local t = math.max(now, e.s)
  if alg == FW then return e.s + W - t end
  if alg == SW then
    local elapsed = t - e.s
    local room = limit - e.c - need
    if room >= 0 and e.p > 0 then
      local x = W - muldiv(room, W, e.p)
      if x < W then return math.max(x - elapsed, 0) end
    end
    local untilNext = W - elapsed
    if e.c == 0 then return untilNext end
    local x = W - muldiv(limit - need, W, e.c)
    return untilNext + math.max(x, 0)
  end
  if alg == TB then return tokenWaitMs(e, limit, W, need) end
  return 0
end

local function resetInMs(e, alg, limit, W, now)
  local t = math.max(now, e.s)
  if alg == FW then
    if e.c == 0 then return 0 end
    return e.s + W - t
  end
  if alg == SW then
    if e.c ~= 0 then return e.s + 2 * W - t end
    if e.p ~= 0 then return e.s + W - t end
    return 0
  end
  if alg == TB then return tokenWaitMs(e, limit, W, limit) end
  return 0
end

local function idleExpiryMs(e, alg, limit, W, now)
  if alg == CC then
    if e.c == 0 then return now end
    if W == 0 then return NEVER end
    return e.s + W
  end
  local reset = resetInMs(e, alg, limit, W, now)
  if reset == NEVER then return NEVER end
  return now + reset
end

-- Arguments as the C++ side normalises them (store::paramsFor), again, for any caller.
local function params(alg, limit, W)
  limit = math.min(math.max(limit, 0), MAXC)
  W = math.min(math.max(W, 0), MAXC)
  if alg ~= CC and W < 1 then W = 1 end
  return limit, W
end

local function serverNowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function load(key)
  local v = redis.call('HMGET', key, 's', 'c', 'p', 'b', 'x', 't')
  local e = {}
  if v[1] then
    e.s = tonumber(v[1])
    e.c = tonumber(v[2]) or 0
    e.p = tonumber(v[3]) or 0
    e.b = tonumber(v[4]) or 0
    e.x = tonumber(v[5]) or -1
    if e.x < 0 then e.x = NEVER end
    e.t = tonumber(v[6])
  end
  return e
end

-- Brings a loaded entry to `now`: missing or expired starts fresh (MemoryStore refresh()).
local function refresh(e, alg, limit, W, now)
  if e.s == nil or e.x <= now then
    freshCounters(e, alg, limit, W, now)
    e.b = 0
    e.x = NEVER
  end
  advance(e, alg, limit, W, now)
end

local function int(v)
  if v == 0 then return '0' end
  return string.format('%.0f', v)
end

local function store(key, e, now)
  local x = -1
  if e.x ~= NEVER then x = e.x end
  redis.call('HSET', key, 's', int(e.s), 'c', int(e.c), 'p', int(e.p), 'b', int(e.b),
             'x', int(x), 't', int(now))
  if x < 0 then redis.call('PERSIST', key) else redis.call('PEXPIREAT', key, int(x)) end
end

local function out(v)
  if v == NEVER then return -1 end
  return v
end
)lua";

// reserve: store/memory_store.cc reserveInto, step by step.
constexpr std::string_view kReserve = R"lua(
local mode = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
if now == 0 then now = serverNowMs() end
local n = #KEYS
local ents = {}
for i = 1, n do
  local k = KEYS[i]
  if ents[k] == nil then
    local e = load(k)
    if e.t and e.t > now then now = e.t end
    ents[k] = e
  end
end

local work = {}
local failed = false
for i = 1, n do
  local a = 2 + (i - 1) * 5
  local w = {}
  w.alg = tonumber(ARGV[a + 1])
  w.limit, w.W = params(w.alg, tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]))
  w.pen = math.min(math.max(tonumber(ARGV[a + 4]), 0), MAXC)
  w.amount = math.min(math.max(tonumber(ARGV[a + 5]), 0), MAXC)
  if mode == 1 and w.alg ~= CC then w.need = 0 else w.need = math.max(w.amount, 1) end
  local charges = (mode == 0) or (w.alg == CC)
  w.e = ents[KEYS[i]]
  w.charged = 0
  local e = w.e
  refresh(e, w.alg, w.limit, w.W, now)
  if e.b > now then
    w.verdict = BLOCKED; failed = true
  elseif w.need > w.limit then
    w.verdict = TOOLARGE; failed = true
  elseif remaining(e, w.alg, w.limit, w.W, now) >= w.need then
    w.verdict = ADMITTED
    if not failed and charges then
      charge(e, w.alg, w.amount, now)
      w.charged = w.amount
    end
  else
    w.verdict = OVER; failed = true
  end
  work[i] = w
end

if failed then
  for i = 1, n do
    local w = work[i]
    if w.charged ~= 0 then
      uncharge(w.e, w.alg, w.charged)
      w.charged = 0
    end
    if w.verdict == OVER and w.pen > 0 then w.e.b = math.max(w.e.b, now + w.pen) end
  end
end

local reply = {0, 0, 0, now}
local firstTooLarge, firstLimit, retry = nil, nil, 0
for i = 1, n do
  local w = work[i]
  local e = w.e
  local ws = now
  if windowed(w.alg) then ws = e.s end
  local rem = remaining(e, w.alg, w.limit, w.W, now)
  local reset = resetInMs(e, w.alg, w.limit, w.W, now)
  local rt = 0
  if w.verdict == OVER then rt = retryInMs(e, w.alg, w.limit, w.W, now, w.need) end
  if e.b > now then
    local blk = e.b - now
    reset = math.max(reset, blk)
    if w.verdict == OVER or w.verdict == BLOCKED then rt = math.max(rt, blk) end
  end
  e.x = math.max(idleExpiryMs(e, w.alg, w.limit, w.W, now), e.b)
  if w.verdict == TOOLARGE and firstTooLarge == nil then
    firstTooLarge = i
  elseif w.verdict == OVER or w.verdict == BLOCKED then
    if firstLimit == nil then firstLimit = i end
    retry = math.max(retry, rt)
  end
  local o = 4 + (i - 1) * 6
  reply[o + 1] = w.verdict
  reply[o + 2] = w.charged
  reply[o + 3] = ws
  reply[o + 4] = rem
  reply[o + 5] = out(reset)
  reply[o + 6] = out(rt)
end
if firstTooLarge then
  reply[1] = TOOLARGE; reply[2] = firstTooLarge - 1
elseif firstLimit then
  reply[1] = work[firstLimit].verdict; reply[2] = firstLimit - 1; reply[3] = out(retry)
end

for i = 1, n do
  local k = KEYS[i]
  local e = ents[k]
  if e then
    store(k, e, now)
    ents[k] = nil
  end
end
return reply
)lua";

// settle: store/memory_store.cc settle, one reservation after the other.
constexpr std::string_view kSettle = R"lua(
local argNow = tonumber(ARGV[1])
if argNow == 0 then argNow = serverNowMs() end
for i = 1, #KEYS do
  local a = 1 + (i - 1) * 5
  local delta = sat(tonumber(ARGV[a + 5]))
  if delta ~= 0 then
    local k = KEYS[i]
    local alg = tonumber(ARGV[a + 1])
    local limit, W = params(alg, tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]))
    local reservedStart = tonumber(ARGV[a + 4])
    local e = load(k)
    local now = argNow
    if e.t and e.t > now then now = e.t end
    if (e.s == nil or e.x <= now) and delta < 0 then
      -- A fresh bucket: a refund changes nothing. The bucket's clock still moves.
      if e.s ~= nil then redis.call('HSET', k, 't', int(now)) end
    else
      refresh(e, alg, limit, W, now)
      settleInto(e, alg, limit, W, reservedStart, delta, now)
      e.x = math.max(idleExpiryMs(e, alg, limit, W, now), e.b)
      store(k, e, now)
    end
  end
end
return 1
)lua";

// peek: reserve's reporting for one bucket, on a copy; writes nothing.
constexpr std::string_view kPeek = R"lua(
local now = tonumber(ARGV[1])
if now == 0 then now = serverNowMs() end
local alg = tonumber(ARGV[2])
local limit, W = params(alg, tonumber(ARGV[3]), tonumber(ARGV[4]))
local e = load(KEYS[1])
if e.t and e.t > now then now = e.t end
refresh(e, alg, limit, W, now)
local rem = remaining(e, alg, limit, W, now)
local reset = resetInMs(e, alg, limit, W, now)
local blocked = 0
if e.b > now then
  blocked = e.b - now
  reset = math.max(reset, blocked)
end
return {sat(limit - rem), rem, out(reset), blocked}
)lua";

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

std::string_view reserveScriptText() {
  static const std::string text = std::string(kPrelude) + std::string(kReserve);
  return text;
}

std::string_view settleScriptText() {
  static const std::string text = std::string(kPrelude) + std::string(kSettle);
  return text;
}

std::string_view peekScriptText() {
  static const std::string text = std::string(kPrelude) + std::string(kPeek);
  return text;
}

std::string_view hashTagOf(std::string_view bucketKey) {
  const size_t colon = bucketKey.rfind(':');
  return colon == std::string_view::npos ? bucketKey : bucketKey.substr(colon + 1);
}

std::string redisKeyFor(std::string_view prefix, const store::BucketSpec& spec) {
  const std::string_view tag = hashTagOf(spec.key);
  const std::string_view alg = algorithmName(spec.algorithm);
  const std::string window = std::to_string(scriptParams(spec).windowMs);
  std::string key;
  key.reserve(prefix.size() + tag.size() + spec.key.size() + alg.size() + window.size() + 4);
  key.append(prefix).append("{").append(tag).append("}").append(spec.key);
  key.append("|").append(alg).append("|").append(window);
  return key;
}

void appendReserveArgs(std::span<const store::BucketSpec> buckets, std::span<const int64_t> amounts,
                       store::ReserveMode mode, int64_t nowMs, std::vector<std::string>& argv) {
  argv.push_back(mode == store::ReserveMode::CheckOnly ? "1" : "0");
  argv.push_back(std::to_string(nowMs));
  for (size_t i = 0; i < buckets.size(); ++i) {
    const store::BucketSpec& spec = buckets[i];
    const store::Params p = scriptParams(spec);
    argv.push_back(std::to_string(static_cast<int>(spec.algorithm)));
    argv.push_back(std::to_string(p.limit));
    argv.push_back(std::to_string(p.windowMs));
    argv.push_back(std::to_string(clampNonNegative(spec.penalty.count())));
    argv.push_back(std::to_string(clampNonNegative(i < amounts.size() ? amounts[i] : 0)));
  }
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

void appendSettleArgs(std::span<const store::Reservation> reservations,
                      std::span<const int64_t> deltas, int64_t nowMs,
                      std::vector<std::string>& argv) {
  argv.push_back(std::to_string(nowMs));
  for (size_t i = 0; i < reservations.size(); ++i) {
    const store::Reservation& r = reservations[i];
    const store::Params p = scriptParams(r.bucket);
    argv.push_back(std::to_string(static_cast<int>(r.bucket.algorithm)));
    argv.push_back(std::to_string(p.limit));
    argv.push_back(std::to_string(p.windowMs));
    argv.push_back(std::to_string(store::toMillis(r.windowStart)));
    argv.push_back(std::to_string(clampCount(i < deltas.size() ? deltas[i] : 0)));
  }
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
