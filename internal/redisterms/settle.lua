-- Record the delivery of an alert: only the alert of that event, in flight
-- (or failed in another batch, when this one delivered it: the copy of a
-- replica's own alert carries it too): the mirror of firstseen.Settled.
-- KEYS[1] term; ARGV: alertAt (ms), event, status (d or r).
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local l, at, aev, st = string.match(v, '^(%d+):(%d+):(%x+):(%a):?%d*$')
if aev ~= ARGV[2] or at ~= ARGV[1] or not (st == 'i' or st == 'r' and ARGV[3] == 'd') then return 0 end
redis.call('SET', KEYS[1], l .. ':' .. at .. ':' .. aev .. ':' .. ARGV[3], 'KEEPTTL')
return 1
