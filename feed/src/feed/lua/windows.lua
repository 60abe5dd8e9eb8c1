-- KEYS: a reader's feed and the big authors' lists it merges (one Redis server); ARGV[1]: how many
-- entries of each. Returns {the first ARGV[1] entries of KEYS[1], its length, the same of KEYS[2],
-- ...}: one script call instead of an LRANGE and an LLEN per list in a pipeline, whose per-command
-- packing and reply handling were most of a merged read's Redis time in the feed process (py-spy).
local size = tonumber(ARGV[1])
local reply = {}
for _, key in ipairs(KEYS) do
  reply[#reply + 1] = redis.call('LRANGE', key, 0, size - 1)
  reply[#reply + 1] = redis.call('LLEN', key)
end
return reply
