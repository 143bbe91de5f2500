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
