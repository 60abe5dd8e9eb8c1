-- KEYS[1]: a user's `last-seen:<user id>`; ARGV[1]: now (Unix seconds); ARGV[2]: the least seconds
-- between two writes. Returns the value before this call (nil if never seen), writing `now` only if
-- that is older than ARGV[2]: at most one write per user per interval, whatever the process count.
local previous = redis.call('GET', KEYS[1])
if not previous or tonumber(ARGV[1]) - tonumber(previous) >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1])
end
return previous
