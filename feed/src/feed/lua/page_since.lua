-- KEYS[1]: a feed; ARGV[1]: an id; ARGV[2]: page size; ARGV[3..5]: see cached.lua, viewer.lua.
-- Returns {length, offset, the newest entries strictly newer than the id (at most the page size),
-- cached, viewer}. Entries compare by their sort key (the first 36 characters: the tweet id, or a
-- repost's id).
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
local page = {}
for _, item in ipairs(items) do
  if string.sub(item, 1, 36) <= ARGV[1] then
    break
  end
  page[#page + 1] = item
end
return {redis.call('LLEN', KEYS[1]), 0, page, cached(ARGV[3], page), viewer(ARGV[4], ARGV[5], page)}
