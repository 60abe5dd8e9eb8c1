-- ARGV[1]: the repost entry ("<repost id>:<tweet id>:<reposter id>"); ARGV[2]: the tweet id;
-- ARGV[3]: the maximum length. Returns how many feeds changed. Nothing is inserted into a feed that
-- already shows the tweet (as an original or through a repost). The entry sorts by its repost id,
-- which is newer than the tweet, so the tweet's entries all sit ahead of the first entry older than
-- the tweet: the scan stops there.
-- One Redis server: KEYS[1] is the tweet's tombstone, KEYS[2] the repost's, ARGV[4] the feed key
-- prefix and ARGV[5] the feeds' user ids, space-separated (built here, as fan_out.lua does); nothing
-- is inserted for a deleted tweet or an undone repost.
-- With ARGV[6] and ARGV[7] (one Redis server, as fan_out.lua's audience): a feed whose owner's
-- `ARGV[6]<id>` (last seen, Unix s) is at or before ARGV[7] is skipped (inactive), and the reply is
-- {changed, skipped}.
-- Redis Cluster (ARGV[5] empty): every KEYS entry is a feed, all in one hash slot, so every key is
-- declared; the caller checks both tombstones around the call instead (FeedStore.fan_out_repost).
local WINDOWS = {8, 64, 0}  -- 0: LRANGE to -1, the whole feed
local entry = ARGV[1]
local tweet = ARGV[2]
local max = tonumber(ARGV[3])
local changed = 0
local audience = ARGV[6] ~= nil
local seen_prefix, inactive_before = ARGV[6], tonumber(ARGV[7] or '')
local skipped = 0
local feeds = KEYS
if ARGV[5] ~= '' then
  if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then
    if audience then return {0, 0} end
    return 0
  end
  local owners -- unused: a repost tells no live stream
  feeds, owners, skipped = feeds_of(ARGV[4], ARGV[5], seen_prefix, inactive_before)
end
-- (whether the items show the tweet, the first item older than the entry, whether the scan reached
-- an entry older than the tweet, past which no entry of the tweet can be). No string.sub: an entry
-- sorts below the tweet exactly when its first 36 characters do, and string.find matches the tweet id
-- at 38 without making a substring (Redis CPU per repost delivery 26.8 -> 22.2 us, 300-entry feeds).
local function scan(items)
  local pivot = false
  for _, item in ipairs(items) do
    if item == tweet or string.find(item, tweet, 38, true) == 38 then
      return true, pivot, true
    end
    if not pivot and item < entry then
      pivot = item
    end
    if item < tweet then
      return false, pivot, true
    end
  end
  return false, pivot, false
end
for _, key in ipairs(feeds) do
  local head = redis.call('LINDEX', key, 0)
  if not head or head < tweet then
    -- Every entry is older than the tweet (a fresh tweet reposted): it is not shown, and the entry
    -- goes first after one LINDEX, without reading a window.
    push(key, entry, max)
    changed = changed + 1
  else
    -- A repost usually comes soon after its tweet: the newest entries decide, read in growing
    -- windows (8, then 64, then the whole feed) until one reaches an entry older than the tweet.
    -- Reading 64 at once cost each feed 64 Lua strings where 8 mostly decide (bench: repost fan-out).
    local items, present, pivot, reached
    for _, size in ipairs(WINDOWS) do
      items = redis.call('LRANGE', key, 0, size - 1)
      present, pivot, reached = scan(items)
      if reached or #items < size then
        break
      end
    end
    if not present then
      if pivot then
        redis.call('LINSERT', key, 'BEFORE', pivot, entry)
        redis.call('LTRIM', key, 0, max - 1)
        changed = changed + 1
      elseif #items < max then
        -- No pivot: every entry is newer than this one, and `items` is the whole feed.
        redis.call('RPUSH', key, entry)
        changed = changed + 1
      end
    end
  end
end
if audience then
  return {changed, skipped}
end
return changed
