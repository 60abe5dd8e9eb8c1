-- Page scripts end with the reader's side of its items (feed.viewers) when ARGV[4] and ARGV[5] name
-- the reader's hidden-set and state keys: {hidden set or nil, HMGET of the page's tweet ids, HLEN},
-- so a warm feed read is one round trip. Undeclared keys, like cached.lua's: one Redis server only.
local function viewer(hidden_key, state_key, ids)
  if hidden_key == nil or hidden_key == '' then
    return {}
  end
  local states = {}
  if #ids > 0 then
    local tweet_ids = {}
    for i, id in ipairs(ids) do
      if #id > 36 then
        id = string.sub(id, 38, 73)
      end
      tweet_ids[i] = id
    end
    states = redis.call('HMGET', state_key, unpack(tweet_ids))
  end
  return {redis.call('GET', hidden_key), states, redis.call('HLEN', state_key)}
end
