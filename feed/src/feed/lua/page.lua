-- KEYS[1]: the feed; ARGV[1]: offset; ARGV[2]: limit; ARGV[3..5]: see cached.lua, viewer.lua.
-- Returns {length, offset, ids, cached, viewer}.
local offset = tonumber(ARGV[1])
local ids = redis.call('LRANGE', KEYS[1], offset, offset + tonumber(ARGV[2]) - 1)
return {redis.call('LLEN', KEYS[1]), offset, ids, cached(ARGV[3], ids), viewer(ARGV[4], ARGV[5], ids)}
