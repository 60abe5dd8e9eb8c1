-- KEYS[1]: the tweet's tombstone; KEYS[2]: the repost's tombstone; ARGV[1]: the repost entry
-- ("<repost id>:<tweet id>:<reposter id>"); ARGV[2]: the tweet id; ARGV[3]: the maximum length;
-- ARGV[4]: the feed key prefix; ARGV[5]: the feeds' user ids, space-separated. Returns how many feeds
-- changed. Nothing is inserted for a deleted tweet or an undone repost, nor into a feed that already
-- shows the tweet (as an original or through a repost). The entry sorts by its repost id, which is
-- newer than the tweet, so the tweet's entries all sit ahead of the first entry older than the tweet:
-- the scan stops there.
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
local WINDOW = 64
local entry = ARGV[1]
local tweet = ARGV[2]
local max = tonumber(ARGV[3])
local changed = 0
for user in string.gmatch(ARGV[5], '%S+') do
  local key = ARGV[4] .. user
  local head = redis.call('LINDEX', key, 0)
  if not head or string.sub(head, 1, 36) < tweet then
    -- Every entry is older than the tweet (a fresh tweet reposted): it is not shown, and the entry
    -- goes first. Most reposts take this path: one LINDEX instead of reading a window.
    local length = redis.call('LPUSH', key, entry)
    if length == max + 1 then
      redis.call('RPOP', key)
    elseif length > max then
      redis.call('LTRIM', key, 0, max - 1)
    end
    changed = changed + 1
  else
    -- The newest WINDOW entries first: the scan ends at the first entry older than the tweet; the
    -- whole list only when the window holds none older.
    local items = redis.call('LRANGE', key, 0, WINDOW - 1)
    if #items == WINDOW and string.sub(items[WINDOW], 1, 36) >= tweet then
      items = redis.call('LRANGE', key, 0, -1)
    end
    local pivot = false
    local present = false
    for _, item in ipairs(items) do
      local sort = string.sub(item, 1, 36)
      if item == tweet or (#item > 36 and string.sub(item, 38, 73) == tweet) then
        present = true
        break
      end
      if not pivot and item < entry then
        pivot = item
      end
      if sort < tweet then
        break
      end
    end
    if not present then
      if not pivot then
        if #items < max then
          redis.call('RPUSH', key, entry)
          changed = changed + 1
        end
      else
        redis.call('LINSERT', key, 'BEFORE', pivot, entry)
        redis.call('LTRIM', key, 0, max - 1)
        changed = changed + 1
      end
    end
  end
end
return changed
