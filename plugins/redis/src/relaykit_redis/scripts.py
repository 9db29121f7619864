"""The Lua scripts that make each decision atomic inside Redis.

A script runs alone on the server, so checking every limit and charging them
all is one indivisible step, whichever process, thread or task sent it: the
same reserve-then-reconcile GCRA as relaykit's in-memory limiter, with state
shared by every process pointing at the same Redis. Time comes from the Redis
server (``TIME``), so clients with skewed clocks still agree (a test may pass
its own clock instead, see NOW).

Rate state per slot is a theoretical arrival time in milliseconds; budgets are
integers of micro-dollars.
"""

from __future__ import annotations

import functools
import hashlib

# NOW: every script reads the time from Redis (TIME) unless it is given one last
# ARGV, the time in milliseconds on any clock. Only a limiter given a ``clock``
# (tests: one clock for Redis, a model and the memory limiter) passes it; without
# it the script is the same one, with the same single round trip and TIME call.
# A slot outlives its arrival time by a second of Redis's time (``keep``); a given
# clock need not run at Redis's pace (a test's stands still while Redis's runs
# on), so its slots are kept an hour (3600000 ms) instead of expiring under it.

# One decision over one or more limits (a call can match several [limits]
# patterns): every limit is checked first, then all are charged, so a call is
# admitted by all of them or charged by none, in one round trip. A refusal asks
# every limit again (the slow path, still in the same script): a request that can
# never fit says so, else the longest wait is given, after which it fits (waiting
# out only an rpm's, a tpm or budget also full would refuse it again).
# KEYS: per limit, 3 keys: rpm slot, tpm slot, budget key
# ARGV: per limit, 6 values: rpm limit (0: none), tpm limit (0: none), tokens,
#       budget in micro-USD (-1: none), cost in micro-USD, seconds until the budget
#       period ends; then, optionally, the time in milliseconds (see NOW)
# -> {0, ""} admitted; refused by limit i (from 0), the one with the longest wait:
#    {1|2, wait_ms, i} its rpm|tpm ("-1": more tokens than tpm, never fits);
#    {3, spent, i} its budget; {4, "-1", i} a cost over its whole budget, never fits
ACQUIRE = """
local n = #KEYS / 3
local now, keep = tonumber(ARGV[n * 6 + 1]), 3600000
if not now then
  local t = redis.call('TIME')
  now, keep = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000, 1000
end
local period = 60000
local function check(key, limit, amount)
  if limit <= 0 then return 0, nil end
  if amount > limit then return -1, nil end
  -- the wait is built from differences, with a microsecond of slack: at epoch
  -- milliseconds, now + period - period can come out above now
  local ahead = (tonumber(redis.call('GET', key)) or now) - now
  if ahead < 0 then ahead = 0 end
  ahead = ahead + period / limit * amount
  local wait = ahead - period
  if wait > 0.001 then return wait, nil end
  return 0, now + ahead
end
local function set_tat(key, tat)
  redis.call('SET', key, string.format('%.6f', tat), 'PX', math.ceil(tat - now) + keep)
end
local function refuse()
  local code, detail, at, longest = 0, '', 0, -1
  for i = 0, n - 1 do
    local k, a = i * 3, i * 6
    local tpm, tokens = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    local budget, cost = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
    if tpm > 0 and tokens > tpm then return {2, '-1', i} end
    if budget >= 0 and cost > budget then return {4, '-1', i} end
    local wait = check(KEYS[k + 1], tonumber(ARGV[a + 1]), 1)
    if wait > longest then code, detail, at, longest = 1, tostring(wait), i, wait end
    wait = check(KEYS[k + 2], tpm, tokens)
    if wait > longest then code, detail, at, longest = 2, tostring(wait), i, wait end
    if budget >= 0 then
      local spent = tonumber(redis.call('GET', KEYS[k + 3])) or 0
      wait = tonumber(ARGV[a + 6]) * 1000
      if spent + cost > budget and wait > longest then
        code, detail, at, longest = 3, tostring(spent), i, wait
      end
    end
  end
  return {code, detail, at}
end
local tats = {}
for i = 0, n - 1 do
  local k, a = i * 3, i * 6
  local rpm_wait, rpm_tat = check(KEYS[k + 1], tonumber(ARGV[a + 1]), 1)
  if rpm_wait ~= 0 then return refuse() end
  local tpm_wait, tpm_tat = check(KEYS[k + 2], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]))
  if tpm_wait ~= 0 then return refuse() end
  local budget = tonumber(ARGV[a + 4])
  if budget >= 0 then
    local spent = tonumber(redis.call('GET', KEYS[k + 3])) or 0
    if spent + tonumber(ARGV[a + 5]) > budget then return refuse() end
  end
  tats[i * 2 + 1] = rpm_tat or false
  tats[i * 2 + 2] = tpm_tat or false
end
for i = 0, n - 1 do
  local k, a = i * 3, i * 6
  local rpm_tat, tpm_tat = tats[i * 2 + 1], tats[i * 2 + 2]
  if rpm_tat then set_tat(KEYS[k + 1], rpm_tat) end
  if tpm_tat then set_tat(KEYS[k + 2], tpm_tat) end
  if tonumber(ARGV[a + 4]) >= 0 then
    redis.call('INCRBY', KEYS[k + 3], tonumber(ARGV[a + 5]))
    redis.call('EXPIRE', KEYS[k + 3], math.ceil(tonumber(ARGV[a + 6])) + 3600)
  end
end
return {0, ''}
"""

# KEYS: tpm slot, budget key
# ARGV: tpm limit (0: none), token difference (actual - reserved),
#       micro-USD difference (actual - held; 0: none), seconds until the budget
#       period ends; optionally, the time in milliseconds (see NOW)
RECONCILE = """
local limit = tonumber(ARGV[1])
local delta = tonumber(ARGV[2])
if limit > 0 and delta ~= 0 then
  local now, keep = tonumber(ARGV[5]), 3600000
  if not now then
    local t = redis.call('TIME')
    now, keep = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000, 1000
  end
  local tat = tonumber(redis.call('GET', KEYS[1])) or now
  -- a larger real usage is charged from now, as an admission would be: added to
  -- an arrival time long past (or to a slot expired meanwhile), it would vanish
  if delta > 0 and tat < now then tat = now end
  tat = tat + 60000 / limit * delta
  if tat > now then
    redis.call('SET', KEYS[1], string.format('%.6f', tat), 'PX', math.ceil(tat - now) + keep)
  else
    redis.call('DEL', KEYS[1])
  end
end
local usd = tonumber(ARGV[3])
if usd ~= 0 then
  if redis.call('EXISTS', KEYS[2]) == 1 then
    local spent = redis.call('INCRBY', KEYS[2], usd)
    if spent < 0 then redis.call('SET', KEYS[2], 0, 'KEEPTTL') end
  elseif usd > 0 then
    -- settled after its period ended, before anything was held in the new one:
    -- what it used beyond its hold counts there (as in the memory limiter)
    redis.call('SET', KEYS[2], usd, 'EX', math.ceil(tonumber(ARGV[4])) + 3600)
  end
end
return 0
"""

# Gives back a whole reservation of a call that was never sent: its request, its
# tokens and its USD, in one step. A slot whose arrival time falls to now or
# below is deleted (GCRA never banks unused time).
# KEYS: rpm slot, tpm slot, budget key
# ARGV: rpm limit (0: none), tpm limit (0: none), tokens held, micro-USD held (0: none);
#       optionally, the time in milliseconds (see NOW)
RELEASE = """
local now, keep = tonumber(ARGV[5]), 3600000
if not now then
  local t = redis.call('TIME')
  now, keep = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000, 1000
end
local function give_back(key, limit, amount)
  if limit <= 0 or amount <= 0 then return end
  local tat = tonumber(redis.call('GET', key))
  if not tat then return end
  tat = tat - 60000 / limit * amount
  if tat > now then
    redis.call('SET', key, string.format('%.6f', tat), 'PX', math.ceil(tat - now) + keep)
  else
    redis.call('DEL', key)
  end
end
give_back(KEYS[1], tonumber(ARGV[1]), 1)
give_back(KEYS[2], tonumber(ARGV[2]), tonumber(ARGV[3]))
local usd = tonumber(ARGV[4])
if usd > 0 and redis.call('EXISTS', KEYS[3]) == 1 then
  local spent = redis.call('INCRBY', KEYS[3], -usd)
  if spent < 0 then redis.call('SET', KEYS[3], 0, 'KEEPTTL') end
end
return 0
"""


@functools.cache
def sha1(script: str) -> str:
    """The SHA-1 Redis knows a script by (for EVALSHA); computed once per script."""
    return hashlib.sha1(script.encode()).hexdigest()
