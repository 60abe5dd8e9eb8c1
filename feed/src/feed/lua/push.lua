-- Prefixed to fan_out.lua and repost.lua, their shared helpers. push: put an entry first in a feed,
-- keeping it at most `max` long. LPUSH returns the new length: trim only a feed that actually grew past the maximum, by
-- popping the one entry it grew by (RPOP costs a third of an LTRIM of a full feed).
local function push(key, entry, max)
  local length = redis.call('LPUSH', key, entry)
  if length == max + 1 then
    redis.call('RPOP', key)
  elseif length > max then
    redis.call('LTRIM', key, 0, max - 1)
  end
end
-- feeds_of: the feed keys (`prefix<id>`) of the space-separated user ids, with their owners, less
-- those whose `seen_prefix<id>` (last seen, Unix s) is at or before `inactive_before` (nil: none
-- left out); returns feeds, owners, how many were left out.
local function feeds_of(prefix, users, seen_prefix, inactive_before)
  local feeds, owners, skipped = {}, {}, 0
  for user in string.gmatch(users, '%S+') do
    local seen = inactive_before and redis.call('GET', seen_prefix .. user)
    if seen and tonumber(seen) <= inactive_before then
      skipped = skipped + 1
    else
      feeds[#feeds + 1] = prefix .. user
      owners[#feeds] = user
    end
  end
  return feeds, owners, skipped
end
