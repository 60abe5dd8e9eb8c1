-- KEYS[1]: a big author's list (`author-feed:<author id>`); ARGV[1]: the entry (a tweet id, or a
-- repost entry "<repost id>:<tweet id>:<reposter id>"); ARGV[2]: its tweet id; ARGV[3]: the maximum
-- length. Returns 1 if the entry went in, 0 if the list shows the tweet already. One key only, so it
-- runs unchanged on a Redis Cluster; the caller checks the tombstones around it (AuthorFeeds.push).
local key = KEYS[1]
local entry = ARGV[1]
local tweet = ARGV[2]
local max = tonumber(ARGV[3])
local head = redis.call('LINDEX', key, 0)
-- The usual case: newer than everything in the list, so no entry of this tweet can be in it.
if not head or head < tweet then
  if redis.call('LPUSH', key, entry) > max then
    redis.call('LTRIM', key, 0, max - 1)
  end
  return 1
end
local items = redis.call('LRANGE', key, 0, -1)
local pivot = false
for _, item in ipairs(items) do
  if item == tweet or string.find(item, tweet, 38, true) == 38 then
    return 0
  end
  if not pivot and item < entry then
    pivot = item
  end
  -- Every entry of the tweet sorts at or after the tweet's own id: none lies past an older one.
  if item < tweet then
    break
  end
end
if pivot then
  redis.call('LINSERT', key, 'BEFORE', pivot, entry)
  redis.call('LTRIM', key, 0, max - 1)
  return 1
end
if #items < max then
  redis.call('RPUSH', key, entry)
  return 1
end
return 0
