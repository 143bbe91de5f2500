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
