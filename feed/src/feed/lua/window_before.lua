-- KEYS: feeds or big authors' lists; ARGV[1]: a cursor; ARGV[2]: how many entries. Returns, per key,
-- {length, up to ARGV[2] entries strictly older than the cursor, the tweet ids of the repost entries
-- newer than it}. The merged read (feed.merged) needs the last: a tweet reposted after the cursor is
-- shown up there, so its older entries are not shown again below it. On a Redis Cluster it is
-- called with one key at a time; on one server with all of a reader's lists at once.
local limit = tonumber(ARGV[2])
local windows = {}
for _, key in ipairs(KEYS) do
  local items = redis.call('LRANGE', key, 0, -1)
  local page = {}
  local reposted = {}
  for _, item in ipairs(items) do
    if item < ARGV[1] then
      if #page >= limit then
        break
      end
      page[#page + 1] = item
    elseif #item > 36 then
      reposted[#reposted + 1] = string.sub(item, 38, 73)
    end
  end
  windows[#windows + 1] = {#items, page, reposted}
end
return windows
