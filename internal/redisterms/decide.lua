-- Decide whether an occurrence of a term is new, atomically. The value is
-- "latest:alertAt:alertEvent:status" (times in Unix ms; status i in flight,
-- d delivered, r retry), the same rule as the local store:
--   no state                              -> new
--   the alerting event again              -> new only if its delivery failed
--   within the window of the latest       -> known (latest kept at the max)
--   more than the window after the latest -> new
-- KEYS[1] term; ARGV: t, event, window, ttl (ms).
-- Returns {new, latest, alertAt, alertEvent}: replicas cache which event
-- carries the term's alert, so that they ask again when it comes back.
local t = tonumber(ARGV[1])
local ev = ARGV[2]
local window = tonumber(ARGV[3])
local v = redis.call('GET', KEYS[1])
local latest = t
if v then
  local l, at, aev, st = string.match(v, '^(%d+):(%d+):(%x+):(%a)$')
  if l then
    latest = tonumber(l)
    if aev == ev and tonumber(at) == t then
      if st ~= 'r' then return {0, latest, tonumber(at), aev} end
    elseif t - latest <= window then
      if t > latest then
        redis.call('SET', KEYS[1], t .. ':' .. at .. ':' .. aev .. ':' .. st, 'PX', ARGV[4])
        latest = t
      end
      return {0, latest, tonumber(at), aev}
    end
    if t > latest then latest = t end
  end
end
redis.call('SET', KEYS[1], latest .. ':' .. t .. ':' .. ev .. ':i', 'PX', ARGV[4])
return {1, latest, t, ev}
