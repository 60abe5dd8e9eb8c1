-- KEYS[1]: a feed; ARGV[1]: a reposter id. Removes every repost entry that account made (entries
-- end with ":<reposter id>"); returns the entries removed.
local suffix = ':' .. ARGV[1]
local removed = {}
for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if #item > 36 and string.sub(item, -#suffix) == suffix then
    if redis.call('LREM', KEYS[1], 1, item) > 0 then
      removed[#removed + 1] = item
    end
  end
end
return removed
