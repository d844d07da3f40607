-- One rate-limit decision for one key, atomically, on Redis's clock.
-- KEYS[1]: the bucket. ARGV: permits, bandwidth count n, reserve in millionths of each capacity
-- (tokens that must be left over beyond the permits: 0 but for shedable requests), then per
-- bandwidth: capacity, refill tokens, period in microseconds,
-- 1 = greedy / 0 = whole periods.
-- State: "tokens last" per bandwidth, where tokens are scaled by the period in microseconds (so
-- greedy refill is elapsed * refill tokens, an exact integer) and last is when it was refilled.
-- Optional ARGV after the bandwidths: a batch, and a reserve in millionths the batch must leave;
-- when the permits are there, up to the batch is taken (never fewer than the permits, the extra
-- never into either reserve) for the caller to spend locally.
-- Returns {allowed 1/0, remaining tokens, retry-after us, reset-after us, tokens taken}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local permits = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local reserveMillionths = tonumber(ARGV[3])
local raw = redis.call('GET', KEYS[1])
local st = {}
if raw then
  for v in string.gmatch(raw, '%S+') do st[#st + 1] = tonumber(v) end
  if #st ~= 2 * n then st = {} end
end
local tokens, last, cap, rt, p, greedy, reserve = {}, {}, {}, {}, {}, {}, {}
local ok = true
for i = 1, n do
  local b = 3 + (i - 1) * 4
  cap[i] = tonumber(ARGV[b + 1]) * tonumber(ARGV[b + 3])
  rt[i] = tonumber(ARGV[b + 2])
  p[i] = tonumber(ARGV[b + 3])
  greedy[i] = ARGV[b + 4] == '1'
  reserve[i] = math.ceil(tonumber(ARGV[b + 1]) * reserveMillionths / 1000000)
  local tk, ls = st[2 * i - 1], st[2 * i]
  if tk == nil or ls == nil then tk, ls = cap[i], now end
  -- a value this script did not write (or NaN): clamp into range rather than fail for ever
  if not (tk >= 0) then tk = 0 end
  if not (ls <= now) then ls = now end
  if ls < 0 then ls = 0 end
  local elapsed = now - ls
  if greedy[i] then
    if tk < cap[i] then tk = math.min(cap[i], tk + elapsed * rt[i]) end
    ls = now
  else
    local periods = math.floor(elapsed / p[i])
    if periods > 0 then
      tk = math.min(cap[i], tk + periods * rt[i] * p[i])
      ls = ls + periods * p[i]
    end
  end
  if tk > cap[i] then tk = cap[i] end
  tokens[i], last[i] = tk, ls
  if tk < (permits + reserve[i]) * p[i] then ok = false end
end
local take = permits
local batch = tonumber(ARGV[4 + 4 * n])
local leaseReserve = tonumber(ARGV[5 + 4 * n]) or 0
if ok and batch and batch > permits then
  take = batch
  for i = 1, n do
    local kept = math.max(reserve[i], math.ceil(tonumber(ARGV[3 + (i - 1) * 4 + 1]) * leaseReserve / 1000000))
    local spare = math.floor(tokens[i] / p[i]) - kept
    if spare < take then take = spare end
  end
  if take < permits then take = permits end
end
local remaining, retry, reset = nil, 0, 0
local parts = {}
for i = 1, n do
  if ok then tokens[i] = tokens[i] - take * p[i] end
  local left = math.floor(tokens[i] / p[i])
  if remaining == nil or left < remaining then remaining = left end
  if not ok then
    local deficit = (permits + reserve[i]) * p[i] - tokens[i]
    if deficit > 0 then
      local wait
      if greedy[i] then
        wait = math.ceil(deficit / rt[i])
      else
        wait = last[i] + math.ceil(deficit / (rt[i] * p[i])) * p[i] - now
      end
      if wait > retry then retry = wait end
    end
  end
  local missing = cap[i] - tokens[i]
  if missing > 0 then
    local full
    if greedy[i] then
      full = math.ceil(missing / rt[i])
    else
      full = last[i] + math.ceil(missing / (rt[i] * p[i])) * p[i] - now
    end
    if full > reset then reset = full end
  end
  parts[#parts + 1] = string.format('%.0f %.0f', tokens[i], last[i])
end
if reset > 0 then
  redis.call('SET', KEYS[1], table.concat(parts, ' '), 'PX', math.ceil(reset / 1000) + 1)
else
  redis.call('DEL', KEYS[1])
end
if ok then return {1, remaining, 0, reset, take} end
return {0, remaining, retry, reset, 0}
