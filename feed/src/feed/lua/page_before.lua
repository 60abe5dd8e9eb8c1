-- KEYS[1]: a feed; ARGV[1]: an id; ARGV[2]: page size. ARGV[3..5]: see cached.lua, viewer.lua.
-- Returns {length, offset, ids strictly older, cached, viewer}.
-- Scans for the first older element, so it works even when ARGV[1] is no longer in the feed.
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local limit = tonumber(ARGV[2])
local start = #items
for i, item in ipairs(items) do
  if item < ARGV[1] then
    start = i - 1
    break
  end
end
local page = {}
for i = start + 1, math.min(start + limit, #items) do
  page[#page + 1] = items[i]
end
return {#items, start, page, cached(ARGV[3], page), viewer(ARGV[4], ARGV[5], page)}
