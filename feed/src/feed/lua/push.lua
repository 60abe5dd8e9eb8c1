-- Prefixed to fan_out.lua and repost.lua: put an entry first in a feed, keeping it at most `max`
-- long. LPUSH returns the new length: trim only a feed that actually grew past the maximum, by
-- popping the one entry it grew by (RPOP costs a third of an LTRIM of a full feed).
local function push(key, entry, max)
  local length = redis.call('LPUSH', key, entry)
  if length == max + 1 then
    redis.call('RPOP', key)
  elseif length > max then
    redis.call('LTRIM', key, 0, max - 1)
  end
end
