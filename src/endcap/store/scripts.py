"""The Lua the Redis back-end runs: each script touches one hash-tag slot and runs
atomically, so a write is whole or absent and a retried one changes nothing twice."""

from __future__ import annotations

#: KEYS: stream, event counter, one idempotency mark per event.
#: ARGV: mark TTL, then one msgpack payload per event. Returns 1 (logged) or 0 (repeat)
#: per event.
APPEND = """
local ttl = tonumber(ARGV[1])
local out = {}
local n = 0
for i = 3, #KEYS do
  if redis.call('SET', KEYS[i], 'l', 'NX', 'EX', ttl) then
    redis.call('XADD', KEYS[1], '*', 'e', ARGV[i - 1])
    out[#out + 1] = 1
    n = n + 1
  else
    out[#out + 1] = 0
  end
end
if n > 0 then redis.call('INCRBY', KEYS[2], n) end
return out
"""

#: Folds a batch of one shard's events into real-time state, each at most once.
#: KEYS: per event, its mark, history, bought set and recent-views list.
#: ARGV: 1 mark TTL, 2 max history entries, 3 max bought, 4 pair cap, 5 counter TTL,
#: 6 counter key prefix, 7 most purchase lines paired; then per event: type, time,
#: history TTL, hour bucket ('' for no counting: too old to matter), n, and n times
#: (item, weight, history entry or '').
#: Counters and pair sets are trimmed and given their TTL once per batch, not per bump.
#: Returns how many events were applied now (the rest were applied before).
APPLY = """
local mark_ttl = tonumber(ARGV[1])
local max_events = tonumber(ARGV[2])
local max_bought = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local counter_ttl = tonumber(ARGV[5])
local pre = ARGV[6]
local max_lines = tonumber(ARGV[7])
local a = 8
local applied = 0
local counters = {}
local pairsets = {}

local function bump(key, member)
  redis.call('ZINCRBY', key, 1, member)
  pairsets[key] = true
end

for k = 1, #KEYS, 4 do
  local mark, hist, bought, recent = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local etype, ts, hist_ttl, hour = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3]
  local n = tonumber(ARGV[a + 4])
  a = a + 5
  if redis.call('GET', mark) == 'a' then
    a = a + 3 * n
  else
    applied = applied + 1
    if not redis.call('SET', mark, 'a', 'XX', 'KEEPTTL') then
      redis.call('SET', mark, 'a', 'EX', mark_ttl)
    end
    local counter = hour ~= '' and (pre .. 'n:' .. etype .. ':' .. hour) or nil
    local items = {}
    local pushed = false
    for j = 1, n do
      local item, weight, entry = ARGV[a], ARGV[a + 1], ARGV[a + 2]
      a = a + 3
      items[j] = item
      if counter then redis.call('ZINCRBY', counter, weight, item) end
      if entry ~= '' then
        redis.call('RPUSH', hist, entry)
        pushed = true
        if etype == 'purchase' then redis.call('ZADD', bought, 'GT', ts, item) end
      end
    end
    if counter then counters[counter] = true end
    if pushed then
      redis.call('LTRIM', hist, -max_events, -1)
      redis.call('EXPIRE', hist, hist_ttl)
      if etype == 'purchase' then
        redis.call('ZREMRANGEBYRANK', bought, 0, -max_bought - 1)
        redis.call('EXPIRE', bought, hist_ttl)
      end
    end
    if pushed and (etype == 'view' or etype == 'click') then
      local item = items[1]
      for _, other in ipairs(redis.call('LRANGE', recent, 0, 4)) do
        if other ~= item then
          bump(pre .. 'cv:' .. item, other)
          bump(pre .. 'cv:' .. other, item)
        end
      end
      redis.call('LREM', recent, 0, item)
      redis.call('LPUSH', recent, item)
      redis.call('LTRIM', recent, 0, 4)
      redis.call('EXPIRE', recent, hist_ttl)
    elseif etype == 'purchase' and n > 1 then
      local m = math.min(n, max_lines)
      for x = 1, m do
        for y = 1, m do
          if x ~= y then bump(pre .. 'cb:' .. items[x], items[y]) end
        end
      end
    end
  end
end
for key in pairs(counters) do redis.call('EXPIRE', key, counter_ttl) end
for key in pairs(pairsets) do
  local n = redis.call('ZCARD', key)
  if n > 2 * cap then redis.call('ZREMRANGEBYRANK', key, 0, n - cap - 1) end
  redis.call('EXPIRE', key, counter_ttl)
end
return applied
"""

#: KEYS: items hash, change stream. ARGV: change kind, note, then id/body pairs.
UPSERT = """
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000, '*', ARGV[1], ARGV[2])
return 1
"""

#: KEYS: hash, change stream. ARGV: change kind, id, expected old body, new body.
#: Replaces the field only if it still holds the expected body (compare and set).
CAS = """
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000, '*', ARGV[1], ARGV[2])
return 1
"""

#: KEYS: hash, change stream. ARGV: change kind, id, body. Returns 1 if created.
PUT = """
local created = redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000, '*', ARGV[1], ARGV[2])
return created
"""

#: KEYS: hash, change stream. ARGV: change kind, id. Returns 1 if it existed.
DELETE = """
local gone = redis.call('HDEL', KEYS[1], ARGV[2])
if gone == 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000, '*', ARGV[1], ARGV[2])
end
return gone
"""

#: KEYS: versions zset, sequence, current pointer, the new artifact's key.
#: ARGV: version, artifact, versions to keep, artifact key prefix.
PUBLISH = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return redis.error_reply('model version ' .. ARGV[1] .. ' exists')
end
local seq = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[4], ARGV[2])
redis.call('ZADD', KEYS[1], seq, ARGV[1])
redis.call('SET', KEYS[3], ARGV[1])
local keep = tonumber(ARGV[3])
local n = redis.call('ZCARD', KEYS[1])
if n > keep then
  for _, v in ipairs(redis.call('ZRANGE', KEYS[1], 0, n - keep - 1)) do
    redis.call('DEL', ARGV[4] .. v)
    redis.call('ZREM', KEYS[1], v)
  end
end
return seq
"""

#: KEYS: versions zset, current pointer. ARGV: version. Returns 1 if it is known.
SET_CURRENT = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""
