-- KEYS[1]: a feed; ARGV[1]: the maximum length; ARGV[2..]: ids. Returns the feed's new length.
local max = tonumber(ARGV[1])
local seen = {}
local ids = {}
for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if not seen[item] then
    seen[item] = true
    ids[#ids + 1] = item
  end
end
local before = #ids
for i = 2, #ARGV do
  local item = ARGV[i]
  if not seen[item] then
    seen[item] = true
    ids[#ids + 1] = item
  end
end
if #ids == before then
  return before
end
table.sort(ids, function(a, b) return a > b end)
local keep = math.min(#ids, max)
redis.call('DEL', KEYS[1])
for first = 1, keep, 500 do
  redis.call('RPUSH', KEYS[1], unpack(ids, first, math.min(first + 499, keep)))
end
return keep
