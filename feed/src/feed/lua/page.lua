-- KEYS[1]: the feed; ARGV[1]: offset; ARGV[2]: limit. Returns {length, offset, ids, cached}.
local offset = tonumber(ARGV[1])
local ids = redis.call('LRANGE', KEYS[1], offset, offset + tonumber(ARGV[2]) - 1)
return {redis.call('LLEN', KEYS[1]), offset, ids, cached(ARGV[3], ids)}
