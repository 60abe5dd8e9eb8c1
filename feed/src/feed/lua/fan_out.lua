-- ARGV[1]: the tweet id; ARGV[2]: the maximum length. Returns how many feeds changed.
-- One Redis server: KEYS[1] is the tweet's tombstone, ARGV[3] the feed key prefix and ARGV[4] the
-- feeds' user ids, space-separated. A deleted tweet (tombstone set) is never inserted again. The feed
-- keys are built here rather than declared in KEYS: packing 1000 separate arguments per call cost the
-- worker more CPU than Redis spends running the script.
-- The audience (one Redis server, ARGV[5] to ARGV[8] given): a feed whose owner's `ARGV[5]<id>`
-- (last seen, Unix s) is at or before ARGV[6] is skipped (inactive; '' skips none), and the owners
-- of the feeds written whose score in the sorted set ARGV[7] is at least ARGV[8] (ms) are live
-- ('' reports none). The reply is then {changed, skipped, live user ids...}. Asking Redis here
-- instead of an MGET and a ZMSCORE of the page from the worker: worker + users CPU per 1000
-- deliveries 9.3 -> 7.3 ms (quick bench; Redis spends ~0.7 ms more).
-- Redis Cluster (ARGV[4] empty): every KEYS entry is a feed, all in one hash slot, so every key is
-- declared; the caller checks the tombstone around the call instead (FeedStore._fan_out_cluster).
local WINDOW = 64
local id = ARGV[1]
local max = tonumber(ARGV[2])
local changed = 0
local audience = ARGV[5] ~= nil
local seen_prefix, inactive_before = ARGV[5], tonumber(ARGV[6] or '')
local presence, live_since = ARGV[7], tonumber(ARGV[8] or '')
if live_since and redis.call('ZCARD', presence) == 0 then
  live_since = nil  -- nobody has a stream open: no ZSCORE per feed
end
local skipped = 0
local feeds = KEYS
local owners = {}
if ARGV[4] ~= '' then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    if audience then return {0, 0} end
    return 0
  end
  feeds, owners, skipped = feeds_of(ARGV[3], ARGV[4], seen_prefix, inactive_before)
end
for _, key in ipairs(feeds) do
  local head = redis.call('LINDEX', key, 0)
  if not head or id > head then
    push(key, id, max)
    changed = changed + 1
  elseif id ~= head then
    -- Older than the head (a late or redelivered event). Feeds are sorted newest first, so the
    -- id belongs before the first older element, and a duplicate can only sit ahead of it:
    -- look in the newest WINDOW entries first, and scan the whole list only past them.
    local items = redis.call('LRANGE', key, 0, WINDOW - 1)
    local whole = #items < WINDOW
    if not whole then
      local found = false
      for _, item in ipairs(items) do
        if item <= id then found = true break end
      end
      if not found then
        items = redis.call('LRANGE', key, 0, -1)
        whole = true
      end
    end
    local pivot = false
    local duplicate = false
    -- A repost entry ("<repost id>:<tweet id>:<reposter id>") is always newer than its tweet, so one
    -- that shows this tweet already sits ahead of the pivot: a late original makes no second entry.
    for _, item in ipairs(items) do
      if item == id or string.find(item, id, 38, true) == 38 then duplicate = true break end
      if item < id then pivot = item break end
    end
    if not duplicate then
      if pivot then
        redis.call('LINSERT', key, 'BEFORE', pivot, id)
        redis.call('LTRIM', key, 0, max - 1)
        changed = changed + 1
      elseif whole and #items < max then
        redis.call('RPUSH', key, id)
        changed = changed + 1
      end
    end
  end
end
if not audience then
  return changed
end
local reply = {changed, skipped}
if live_since then
  for _, user in ipairs(owners) do
    local score = redis.call('ZSCORE', presence, user)
    if score and tonumber(score) >= live_since then
      reply[#reply + 1] = user
    end
  end
end
return reply
