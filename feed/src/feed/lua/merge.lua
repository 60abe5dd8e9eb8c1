-- KEYS[1]: a feed; ARGV[1]: the maximum length; ARGV[2]: the tweet tombstone prefix; ARGV[3]: the
-- repost tombstone prefix; ARGV[4..]: entries (bare tweet ids or repost entries
-- "<repost id>:<tweet id>:<reposter id>"). Returns the feed's new length. An entry whose tweet the
-- feed already shows is skipped (at most one entry per tweet), and so is one whose tweet was deleted
-- or whose repost was undone meanwhile (a backfill read before that event was handled). The
-- tombstone keys are not declared in KEYS: fine on one Redis server, not on a Redis Cluster, where
-- the prefixes are empty and the caller checks the tombstones around the call (FeedStore.merge).
local max = tonumber(ARGV[1])
local function tweet_of(item)
  if #item > 36 then
    return string.sub(item, 38, 73)
  end
  return item
end
local seen = {}
local ids = {}
for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local tweet = tweet_of(item)
  if not seen[tweet] then
    seen[tweet] = true
    ids[#ids + 1] = item
  end
end
local before = #ids
for i = 4, #ARGV do
  local item = ARGV[i]
  local tweet = tweet_of(item)
  if not seen[tweet] then
    seen[tweet] = true
    local gone = ARGV[2] ~= '' and redis.call('EXISTS', ARGV[2] .. tweet) == 1
    if not gone and ARGV[3] ~= '' and #item > 36 then
      gone = redis.call('EXISTS', ARGV[3] .. string.sub(item, 1, 36)) == 1
    end
    if not gone then
      ids[#ids + 1] = item
    end
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
