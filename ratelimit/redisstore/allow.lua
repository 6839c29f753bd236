-- Checks and counts one event for KEYS[1] with the generic cell rate
-- algorithm (GCRA), as one atomic step.
--
-- The key contains the theoretical arrival time (TAT): the moment at which the
-- key's bucket is full again. It is stored as "SECONDS NANOSECONDS FRACTION
-- DENOMINATOR", the fraction counting 1/DENOMINATOR of a nanosecond, where
-- DENOMINATOR is the rate's limit. Lua numbers are doubles, exact only for
-- whole numbers below 2^53, and nanoseconds since 1970 exceed that, so the
-- script works with durations relative to now and never with a whole time in
-- nanoseconds. The fraction keeps the emission interval Period/Limit exact.
--
-- ARGV[1], ARGV[2]: the emission interval, whole nanoseconds and fraction.
-- ARGV[3]: the limit, the denominator of every fraction.
-- ARGV[4], ARGV[5]: the tolerance (Limit-1)·interval, nanoseconds and fraction.
-- ARGV[6], ARGV[7]: now, seconds and nanoseconds since 1970, or two empty
--   strings to read Redis's clock (TIME).
-- ARGV[8]: milliseconds to keep the key past its TAT.
--
-- Returns {allowed, wait nanoseconds, wait fraction}: allowed is 1 or 0, and
-- wait is TAT minus now after the event, which the caller turns into
-- Remaining or RetryAfter.

-- Before Redis 5, a script had to ask for its writes to be replicated as
-- effects once it had read the clock. Later versions do so by default.
if redis.replicate_commands then
  redis.replicate_commands()
end

local interval_ns = tonumber(ARGV[1])
local interval_frac = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local tolerance_ns = tonumber(ARGV[4])
local tolerance_frac = tonumber(ARGV[5])
local keep_ms = tonumber(ARGV[8])

local now_s, now_ns
if ARGV[6] == '' then
  local time = redis.call('TIME')
  now_s = tonumber(time[1])
  now_ns = tonumber(time[2]) * 1000
else
  now_s = tonumber(ARGV[6])
  now_ns = tonumber(ARGV[7])
end

-- wait is how far the TAT lies after now, never negative: a bucket that is
-- full decides like a key never seen.
local wait_ns, wait_frac = 0, 0
local state = redis.call('GET', KEYS[1])
if state then
  local s, ns, frac, denominator = string.match(state, '^(%d+) (%d+) (%d+) (%d+)$')
  if not s then
    return redis.error_reply('invalid rate limit state')
  end
  wait_ns = (tonumber(s) - now_s) * 1000000000 + (tonumber(ns) - now_ns)
  wait_frac = tonumber(frac)
  if tonumber(denominator) ~= limit then
    -- The key was counted at another rate, whose fraction does not convert
    -- exactly. Rounding up to a whole nanosecond errs on the strict side.
    if wait_frac > 0 then
      wait_ns = wait_ns + 1
    end
    wait_frac = 0
  end
  if wait_ns < 0 then
    wait_ns, wait_frac = 0, 0
  end
end

if wait_ns > tolerance_ns or (wait_ns == tolerance_ns and wait_frac > tolerance_frac) then
  -- Rejected events are not counted, so the key stays as it is.
  return {0, wait_ns, wait_frac}
end

wait_ns = wait_ns + interval_ns
wait_frac = wait_frac + interval_frac
if wait_frac >= limit then
  wait_ns = wait_ns + 1
  wait_frac = wait_frac - limit
end

local tat_ns = now_ns + wait_ns
local tat_s = now_s + math.floor(tat_ns / 1000000000)
tat_ns = tat_ns - (tat_s - now_s) * 1000000000
-- Guards against the division rounding across a whole second.
if tat_ns < 0 then
  tat_s, tat_ns = tat_s - 1, tat_ns + 1000000000
elseif tat_ns >= 1000000000 then
  tat_s, tat_ns = tat_s + 1, tat_ns - 1000000000
end

-- The key expires when its bucket is full again, rounded up to a whole
-- millisecond so that it never goes before its TAT.
local wait_ceil_ns = wait_ns
if wait_frac > 0 then
  wait_ceil_ns = wait_ceil_ns + 1
end
local ttl_ms = math.floor((wait_ceil_ns + 999999) / 1000000) + keep_ms

redis.call('SET', KEYS[1], string.format('%d %d %d %d', tat_s, tat_ns, wait_frac, limit), 'PX', ttl_ms)
return {1, wait_ns, wait_frac}
