#include "redis/scripts.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <iterator>
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
// One Redis string per bucket, six packed doubles (scripts.h):
//   s  stampMs    c  current    p  previous      (store/algorithm.h Counters)
//   b  blocked until (ms, 0 = none)
//   x  expiry on the operations' clock (-1 = never): a bucket still present but with x <= now
//      is one "forgotten" in MemoryStore's sense and starts fresh (Redis deletes it at x on
//      its own clock; with nowMs = 0 both clocks are the same)
//   t  the latest time an operation on this bucket ran at: time never goes backwards for a
//      bucket (MemoryStore keeps this per shard; see scripts.h).
constexpr std::string_view kPrelude = R"lua(
local MAXC = 1125899906842624
local TWO52 = 4503599627370496
local NEVER = math.huge
local FW, SW, TB, CC = 0, 1, 2, 3
local ADMITTED, OVER, BLOCKED, TOOLARGE = 0, 1, 2, 3
local unpackValue, packValue = struct.unpack, struct.pack

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
  if alg <= SW then
    -- e.s is always a multiple of W (freshCounters, below): still inside it, nothing to do.
    if now < e.s + W then return end
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

-- A bucket's value, or {} when there is none: six little-endian doubles s, c, p, b, x, t
-- (x = -1: no expiry), read and written whole (a GET and a SET cost a third of a hash's
-- HMGET and HSET with their number conversions).
local function load(key)
  local v = redis.call('GET', key)
  if not v then return {} end
  local s, c, p, b, x, t = unpackValue('<dddddd', v)
  if x < 0 then x = NEVER end
  return {s = s, c = c, p = p, b = b, x = x, t = t}
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

-- Writes an entry back (e.t = the time of its latest operation) with its expiry. keepTtl:
-- only t changed, the expiry stays as it is.
local function store(key, e, keepTtl)
  local x = -1
  if e.x ~= NEVER then x = e.x end
  local v = packValue('<dddddd', e.s, e.c, e.p, e.b, x, e.t)
  if keepTtl then redis.call('SET', key, v, 'KEEPTTL')
  elseif x < 0 then redis.call('SET', key, v)
  elseif x > e.t then redis.call('SET', key, v, 'PXAT', x)
  else
    -- Due now (a released concurrency slot) or past: PEXPIREAT deletes at once what is due on
    -- the server's clock (SET PXAT would leave it until its next access).
    redis.call('SET', key, v)
    redis.call('PEXPIREAT', key, x)
  end
end

local function out(v)
  if v == NEVER then return -1 end
  return v
end
)lua";

// batch: reserve and settle operations one after the other, exactly as separate runs of one
// operation each would do them (store/memory_store.cc reserveInto and settle, step by step),
// but each bucket's hash is read once and written once per run, and the arguments are read
// with struct.unpack (Lua's tonumber costs ~140 ns a number inside Redis, unpack ~25 ns).
// Per-bucket working state lives in arrays reused by every operation of the run: a Lua table
// costs ~250 ns to create.
constexpr std::string_view kBatch = R"lua(
local base = tonumber(ARGV[1])
if base == 0 then base = serverNowMs() end
local data = ARGV[2]
local unpack = unpackValue
local nd, pos = unpack('<d', data, 1)
-- Bucket descriptors, flat (a Lua table costs ~200 ns to create, so a run makes few):
-- D[5d-4 .. 5d] = key index, algorithm, limit, window, penalty of descriptor d.
local D = {}
for d = 1, nd do
  local ki, alg, limit, W, pen
  ki, alg, limit, W, pen, pos = unpack('<ddddd', data, pos)
  limit, W = params(alg, limit, W)
  local o = 5 * d
  D[o - 4] = ki; D[o - 3] = alg; D[o - 2] = limit; D[o - 1] = W
  D[o] = math.min(math.max(pen, 0), MAXC)
end

local ents, dirty = {}, {}  -- by key index: the entry; 1 = only t changed, 2 = write it all
local function entry(ki)
  local e = ents[ki]
  if e == nil then
    e = load(KEYS[ki])
    ents[ki] = e
  end
  return e
end

local reply, nr = {}, 0
-- The current reserve's buckets, flat: Wk[5i-4 .. 5i] = descriptor, amount, need, charged,
-- verdict of bucket i (reused by every reserve of the run).
local Wk = {}

-- Amounts come clamped to [0, MAXC] (scripts.h). FixedWindow, the default algorithm, is
-- inlined: remaining = limit - c (no saturation needed: both are within [0, MAXC]).
local function reserveOp(mode, n)
  local now = base
  for i = 1, n do
    local d, amount
    d, amount, pos = unpack('<dd', data, pos)
    local o = 5 * i
    Wk[o - 4] = d
    Wk[o - 3] = amount
    if mode == 1 and D[5 * d - 3] ~= CC then Wk[o - 2] = 0
    elseif amount > 1 then Wk[o - 2] = amount
    else Wk[o - 2] = 1 end
    local t = entry(D[5 * d - 4]).t
    if t and t > now then now = t end
  end
  local failed = false
  for i = 1, n do
    local o = 5 * i
    local q = 5 * Wk[o - 4]
    local e, alg, limit, W, need = ents[D[q - 4]], D[q - 3], D[q - 2], D[q - 1], Wk[o - 2]
    local verdict, charged = ADMITTED, 0
    refresh(e, alg, limit, W, now)
    local rem
    if alg == FW then rem = limit - e.c else rem = remaining(e, alg, limit, W, now) end
    if e.b > now then
      verdict = BLOCKED; failed = true
    elseif need > limit then
      verdict = TOOLARGE; failed = true
    elseif rem >= need then
      if not failed and (mode == 0 or alg == CC) then
        charged = Wk[o - 3]
        if alg == FW then
          local c = e.c + charged
          if c > MAXC then c = MAXC end
          e.c = c
        else
          charge(e, alg, charged, now)
        end
      end
    else
      verdict = OVER; failed = true
    end
    Wk[o - 1] = charged
    Wk[o] = verdict
  end

  if failed then
    for i = 1, n do
      local o = 5 * i
      local q = 5 * Wk[o - 4]
      local e = ents[D[q - 4]]
      if Wk[o - 1] ~= 0 then
        uncharge(e, D[q - 3], Wk[o - 1])
        Wk[o - 1] = 0
      end
      if Wk[o] == OVER and D[q] > 0 then e.b = math.max(e.b, now + D[q]) end
    end
  end

  local head = nr
  reply[head + 1] = 0; reply[head + 2] = 0; reply[head + 3] = 0; reply[head + 4] = now
  local firstTooLarge, firstLimit, retry = nil, nil, 0
  for i = 1, n do
    local o = 5 * i
    local q = 5 * Wk[o - 4]
    local ki, alg, limit, W, verdict = D[q - 4], D[q - 3], D[q - 2], D[q - 1], Wk[o]
    local e = ents[ki]
    local ws, rem, reset, rt = now, 0, 0, 0
    if alg == FW then
      ws = e.s
      rem = limit - e.c
      if e.c ~= 0 then
        local t = now
        if e.s > t then t = e.s end
        reset = e.s + W - t
      end
      if verdict == OVER then rt = retryInMs(e, alg, limit, W, now, Wk[o - 2]) end
    else
      if alg == SW then ws = e.s end
      rem = remaining(e, alg, limit, W, now)
      reset = resetInMs(e, alg, limit, W, now)
      if verdict == OVER then rt = retryInMs(e, alg, limit, W, now, Wk[o - 2]) end
    end
    local b = e.b
    if b > now then
      local blk = b - now
      if blk > reset then reset = blk end
      if (verdict == OVER or verdict == BLOCKED) and blk > rt then rt = blk end
    end
    local x
    if alg == FW then x = now + reset else x = idleExpiryMs(e, alg, limit, W, now) end
    if b > x then x = b end
    e.x = x
    if verdict == TOOLARGE and firstTooLarge == nil then
      firstTooLarge = i
    elseif verdict == OVER or verdict == BLOCKED then
      if firstLimit == nil then firstLimit = i end
      if rt > retry then retry = rt end
    end
    local r = head + 6 * i - 2
    reply[r + 1] = verdict
    reply[r + 2] = Wk[o - 1]
    reply[r + 3] = ws
    reply[r + 4] = rem
    reply[r + 5] = out(reset)
    reply[r + 6] = out(rt)
    e.t = now
    dirty[ki] = 2
  end
  if firstTooLarge then
    reply[head + 1] = TOOLARGE; reply[head + 2] = firstTooLarge - 1
  elseif firstLimit then
    reply[head + 1] = Wk[5 * firstLimit]; reply[head + 2] = firstLimit - 1
    reply[head + 3] = out(retry)
  end
  nr = head + 4 + 6 * n
end

local function settleOp(n)
  for i = 1, n do
    local d, reservedStart, delta
    d, reservedStart, delta, pos = unpack('<ddd', data, pos)
    delta = sat(delta)
    if delta ~= 0 then
      local q = 5 * d
      local ki, alg, limit, W = D[q - 4], D[q - 3], D[q - 2], D[q - 1]
      local e = entry(ki)
      local now = base
      if e.t and e.t > now then now = e.t end
      if (e.s == nil or e.x <= now) and delta < 0 then
        -- A fresh bucket: a refund changes nothing. The bucket's clock still moves.
        if e.s ~= nil then
          e.t = now
          if dirty[ki] == nil then dirty[ki] = 1 end
        end
      else
        refresh(e, alg, limit, W, now)
        settleInto(e, alg, limit, W, reservedStart, delta, now)
        e.x = math.max(idleExpiryMs(e, alg, limit, W, now), e.b)
        e.t = now
        dirty[ki] = 2
      end
    end
  end
end

local size = #data
while pos <= size do
  local kind, n
  kind, n, pos = unpack('<dd', data, pos)
  if kind == 2 then settleOp(n) else reserveOp(kind, n) end
end
for ki, d in pairs(dirty) do
  store(KEYS[ki], ents[ki], d == 1)
end
return reply
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

std::string_view batchScriptText() {
  static const std::string text = std::string(kPrelude) + std::string(kBatch);
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
