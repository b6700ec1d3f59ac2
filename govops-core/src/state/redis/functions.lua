#!lua name=govops_v1
-- govops' shared guard state, release 1 of its server-side code (contract section 8). A later
-- release ships `govops_v2` beside it: processes of both releases run side by side.
--
-- Money travels and is kept as two integer limbs, exact in Lua's doubles: whole nano-USD `n`
-- (< 2^53) and the rest in atto-USD `a` (0 <= a < 1e9), so 10^-18 USD exact.
--
-- A budget is a hash `{ns}:v1:b:{scope}:{day}:{key}` (sn, sa: spent; rn, ra: reserved; h:ID: a
-- hold's "n a") and a sorted set `{ns}:v1:h:{scope}:{day}:{key}` of its holds by expiry (ms).

local E9 = 1000000000
-- Expired holds released per budget and call: the work of one call stays bounded.
local RELEASE_BATCH = 64

local function int(x)
  return string.format('%.0f', x)
end

local function add(an, aa, bn, ba)
  local n, a = an + bn, aa + ba
  if a >= E9 then
    return n + 1, a - E9
  end
  return n, a
end

-- a - b, zero at least
local function sub(an, aa, bn, ba)
  local n, a = an - bn, aa - ba
  if a < 0 then
    n, a = n - 1, a + E9
  end
  if n < 0 then
    return 0, 0
  end
  return n, a
end

local function gt(an, aa, bn, ba)
  return an > bn or (an == bn and aa > ba)
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function num(v)
  return tonumber(v) or 0
end

-- spent and reserved of a budget hash
local function read(key)
  local v = redis.call('HMGET', key, 'sn', 'sa', 'rn', 'ra')
  return num(v[1]), num(v[2]), num(v[3]), num(v[4])
end

local function write(key, sn, sa, rn, ra)
  redis.call('HSET', key, 'sn', int(sn), 'sa', int(sa), 'rn', int(rn), 'ra', int(ra))
end

-- the hold's amount, taken off the budget's reserved; nothing when it is not held (any more)
local function unhold(key, holds, id, rn, ra)
  local amount = redis.call('HGET', key, 'h:' .. id)
  if not amount then
    return rn, ra
  end
  redis.call('HDEL', key, 'h:' .. id)
  redis.call('ZREM', holds, id)
  local hn, ha = string.match(amount, '^(%d+) (%d+)$')
  return sub(rn, ra, num(hn), num(ha))
end

local function release_expired(key, holds, now)
  local sn, sa, rn, ra = read(key)
  local expired = redis.call('ZRANGEBYSCORE', holds, '-inf', now, 'LIMIT', 0, RELEASE_BATCH)
  for _, id in ipairs(expired) do
    rn, ra = unhold(key, holds, id, rn, ra)
  end
  if #expired > 0 then
    write(key, sn, sa, rn, ra)
  end
  return sn, sa, rn, ra
end

local function expire(keys, first, at)
  for i = first, #keys do
    redis.call('PEXPIREAT', keys[i], at)
  end
end

-- KEYS: settled marker, then per budget its hash and its holds.
-- ARGV: id, worst n, worst a, enforce (0|1), hold ttl ms, expire-at ms, then per budget limit n, a.
-- Returns {status, exceeded, then per budget spent n, a, reserved n, a (before this hold)}:
-- status 1 held, 0 refused, -1 the id was settled already (nothing held); exceeded: the first
-- budget (1-based) the worst case passes, 0 none.
local function reserve(keys, args)
  if redis.call('EXISTS', keys[1]) == 1 then
    return {-1, 0}
  end
  local wn, wa = tonumber(args[2]), tonumber(args[3])
  local enforce, now = args[4] == '1', now_ms()
  local zero = wn == 0 and wa == 0
  local seen, exceeded = {}, 0
  local budgets = (#keys - 1) / 2
  for i = 1, budgets do
    local key, holds = keys[2 * i], keys[2 * i + 1]
    local sn, sa, rn, ra = release_expired(key, holds, now)
    local ln, la = tonumber(args[5 + 2 * i]), tonumber(args[6 + 2 * i])
    local cn, ca = add(sn, sa, rn, ra)
    local passes
    if zero then
      passes = not gt(ln, la, cn, ca)
    else
      local tn, ta = add(cn, ca, wn, wa)
      passes = gt(tn, ta, ln, la)
    end
    if passes and exceeded == 0 then
      exceeded = i
    end
    seen[i] = {sn, sa, rn, ra}
  end
  local reply = {1, exceeded}
  for i = 1, budgets do
    for _, v in ipairs(seen[i]) do
      table.insert(reply, v)
    end
  end
  if exceeded > 0 and enforce then
    reply[1] = 0
    expire(keys, 2, tonumber(args[6]))
    return reply
  end
  local until_ms = now + tonumber(args[5])
  for i = 1, budgets do
    local key, holds = keys[2 * i], keys[2 * i + 1]
    local s = seen[i]
    local rn, ra = add(s[3], s[4], wn, wa)
    write(key, s[1], s[2], rn, ra)
    redis.call('HSET', key, 'h:' .. args[1], int(wn) .. ' ' .. int(wa))
    redis.call('ZADD', holds, until_ms, args[1])
  end
  expire(keys, 2, tonumber(args[6]))
  return reply
end

-- KEYS: settled marker, then per budget its hash and its holds.
-- ARGV: id, cost n, cost a, held n, held a, marker ttl ms, expire-at ms, then per budget
-- limit n, limit a, only-if-kept (1: a request's budget, not charged once its request ended).
-- Returns {applied (1|0), passed (1-based, 0 none), its spent n, a, reserved n, a}.
local function settle(keys, args)
  if redis.call('SET', keys[1], '1', 'NX', 'PX', args[6]) == false then
    return {0, 0}
  end
  local cn, ca = tonumber(args[2]), tonumber(args[3])
  local overran = gt(cn, ca, tonumber(args[4]), tonumber(args[5]))
  local reply = {1, 0}
  for i = 1, (#keys - 1) / 2 do
    local key, holds = keys[2 * i], keys[2 * i + 1]
    local base = 5 + 3 * i
    if args[base + 2] ~= '1' or redis.call('EXISTS', key) == 1 then
      local sn, sa, rn, ra = read(key)
      rn, ra = unhold(key, holds, args[1], rn, ra)
      sn, sa = add(sn, sa, cn, ca)
      write(key, sn, sa, rn, ra)
      redis.call('PEXPIREAT', key, tonumber(args[7]))
      redis.call('PEXPIREAT', holds, tonumber(args[7]))
      local tn, ta = add(sn, sa, rn, ra)
      if overran and reply[2] == 0 and gt(tn, ta, tonumber(args[base]), tonumber(args[base + 1])) then
        reply = {1, i, sn, sa, rn, ra}
      end
    end
  end
  return reply
end

-- KEYS: the trace's loop state. ARGV: the call's hash (decimal), max tool calls, max repeats,
-- isolate on a trip (0|1), ttl ms. Returns {tool calls, repeats, isolated already (0|1)}.
local function tool_call(keys, args)
  local key = keys[1]
  local v = redis.call('HMGET', key, 'c', 'last', 'r', 'iso')
  if v[4] == '1' then
    redis.call('PEXPIRE', key, args[5])
    return {num(v[1]), num(v[3]), 1}
  end
  local calls, repeats = num(v[1]) + 1, 1
  if v[2] == args[1] then
    repeats = num(v[3]) + 1
  end
  redis.call('HSET', key, 'c', int(calls), 'last', args[1], 'r', int(repeats))
  local tripped = calls > tonumber(args[2]) or repeats >= tonumber(args[3])
  if tripped and args[4] == '1' then
    redis.call('HSET', key, 'iso', '1')
  end
  redis.call('PEXPIRE', key, args[5])
  return {calls, repeats, 0}
end

redis.register_function('govops_v1_reserve', reserve)
redis.register_function('govops_v1_settle', settle)
redis.register_function('govops_v1_tool_call', tool_call)
