-- Decide whether an occurrence of a term is new, atomically: the mirror of
-- firstseen.Decide, the rule's one Go writing (TestDecideMirrorsGo runs one
-- table of cases through both). The value is
-- "latest:alertAt:alertEvent:status" (times in Unix ms: Lua numbers are
-- doubles, too narrow for nanoseconds; status i in flight, d delivered,
-- r retry):
--   no state                              -> new
--   the alerting event again              -> new only if its delivery failed
--   within the window of the latest       -> known (latest kept at the max)
--   more than the window after the latest -> new
-- KEYS[1] term; ARGV: t, event, window, ttl (ms), then what the asking
-- replica knows of the term (latest, alertAt, alertEvent, status; latest 0
-- when nothing). That knowledge is merged first: it restores a term Redis
-- lost (restarted without persistence) and brings in occurrences a replica
-- decided alone while Redis was unreachable, with its alert when that is
-- newer than the one Redis holds (its delivery status with it: a failed one
-- is raised again).
-- Returns {new, latest, alertAt, alertEvent}: replicas cache which event
-- carries the term's alert, so that they ask again when it comes back.
local t = tonumber(ARGV[1])
local ev = ARGV[2]
local window = tonumber(ARGV[3])
local known = tonumber(ARGV[5])
local l, at, aev, st
local v = redis.call('GET', KEYS[1])
if v then l, at, aev, st = string.match(v, '^(%d+):(%d+):(%x+):(%a)$') end
local merged = false
if known > 0 then
  if not l then
    l, at, aev, st, merged = known, ARGV[6], ARGV[7], ARGV[8], true
  elseif tonumber(ARGV[6]) > tonumber(at) then
    l, at, aev, st, merged = math.max(known, tonumber(l)), ARGV[6], ARGV[7], ARGV[8], true
  elseif known > tonumber(l) then
    l, merged = known, true
  end
end
local latest = t
if l then
  l, at = tonumber(l), tonumber(at)
  local keep = nil
  if aev == ev then
    if st ~= 'r' then keep = l end
  elseif t - l <= window then
    keep = math.max(l, t)
  end
  if keep then
    if merged or keep > l then
      redis.call('SET', KEYS[1], keep .. ':' .. at .. ':' .. aev .. ':' .. st, 'PX', ARGV[4])
    end
    return {0, keep, at, aev}
  end
  latest = math.max(l, t)
end
redis.call('SET', KEYS[1], latest .. ':' .. t .. ':' .. ev .. ':i', 'PX', ARGV[4])
return {1, latest, t, ev}
