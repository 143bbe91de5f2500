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
