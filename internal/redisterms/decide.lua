-- Decide whether an occurrence of a term is new, atomically: the mirror of
-- firstseen.Decide, the rule's one Go writing (TestDecideMirrorsGo runs one
-- table of cases through both). The value is
-- "latest:alertAt:alertEvent:status" (times in Unix ms: Lua numbers are
-- doubles, too narrow for nanoseconds; status i in flight, d delivered,
-- r retry), and for i ":since", when the alert was raised (the raising
-- replica's clock, ms):
--   no state                              -> new
--   the alerting event again              -> new only if its delivery failed,
--                                            or is in flight for longer than
--                                            the lease (its replica is taken
--                                            for gone, as a retry)
--   within the window of the latest       -> known (latest kept at the max)
--   more than the window after the latest -> new
-- KEYS[1] term; ARGV: t, event, window, ttl (ms), then what the asking
-- replica knows of the term (latest, alertAt, alertEvent, status; latest 0
-- when nothing), then the lease and the asking replica's clock (ms), then
-- the outcome (d or r) the replica settled of the alert it knows and whose
-- mark Redis may not have yet ('' when none). That knowledge is merged first: it restores a term Redis
-- lost (restarted without persistence) and brings in occurrences a replica
-- decided alone while Redis was unreachable, with its alert when that is
-- newer than the one Redis holds (its delivery status with it: a failed one
-- is raised again); for the alert Redis holds, that outcome (as
-- firstseen.Settled: the replica's retry may overtake its refusal's mark on
-- another connection).
-- Times are at most 13 digits (the caller keeps them so): Lua writes
-- numbers with %.14g, so they print as integers.
-- Returns {new, latest, alertAt, alertEvent, status}: replicas cache which
-- event carries the term's alert, and how its delivery stands, so that
-- they ask again when it comes back, and decide it alike while Redis is
-- unreachable.
local t = tonumber(ARGV[1])
local ev = ARGV[2]
local window = tonumber(ARGV[3])
local known = tonumber(ARGV[5])
local lease = tonumber(ARGV[9])
local now = tonumber(ARGV[10])
local l, at, aev, st, since
local v = redis.call('GET', KEYS[1])
-- A value without since (written before there was one) is taken for lost.
if v then l, at, aev, st, since = string.match(v, '^(%d+):(%d+):(%x+):(%a):?(%d*)$') end
local merged = false
if known > 0 then
  -- The replica's own alert under way: in flight from now.
  if not l then
    l, at, aev, st, since, merged = known, ARGV[6], ARGV[7], ARGV[8], now, true
  elseif tonumber(ARGV[6]) > tonumber(at) then
    l, at, aev, st, since, merged = math.max(known, tonumber(l)), ARGV[6], ARGV[7], ARGV[8], now, true
  elseif known > tonumber(l) then
    l, merged = known, true
  end
  if tonumber(ARGV[6]) == tonumber(at) and ARGV[7] == aev then
    local settled = st
    if ARGV[11] == 'd' then settled = 'd' elseif ARGV[11] == 'r' and st == 'i' then settled = 'r' end
    if settled ~= st then st, merged = settled, true end
  end
end
local function value(latest, alertAt, event, status, raised)
  local s = latest .. ':' .. alertAt .. ':' .. event .. ':' .. status
  if status == 'i' then s = s .. ':' .. raised end
  return s
end
local latest = t
if l then
  l, at = tonumber(l), tonumber(at)
  local keep = nil
  if aev == ev then
    local lost = st == 'i' and (tonumber(since) or 0) + lease < now
    if st ~= 'r' and not lost then keep = l end
  elseif t - l <= window then
    keep = math.max(l, t)
  end
  if keep then
    if merged or keep > l then
      redis.call('SET', KEYS[1], value(keep, at, aev, st, since), 'PX', ARGV[4])
    end
    return {0, keep, at, aev, st}
  end
  latest = math.max(l, t)
end
redis.call('SET', KEYS[1], value(latest, t, ev, 'i', now), 'PX', ARGV[4])
return {1, latest, t, ev, 'i'}
