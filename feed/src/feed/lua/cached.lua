-- Both page scripts end with the cached copies of the page's tweets (MGET of ARGV[3] .. tweet id, nil
-- where absent; none when ARGV[3] is empty), so a hydrated page is one round trip. A repost entry
-- ("<repost id>:<tweet id>:<reposter id>") reads its tweet's copy. Those keys are not declared in
-- KEYS: fine on one Redis server, not on a Redis Cluster.
local function cached(prefix, ids)
  if prefix == '' or #ids == 0 then
    return {}
  end
  local keys = {}
  for i, id in ipairs(ids) do
    if #id > 36 then
      id = string.sub(id, 38, 73)
    end
    keys[i] = prefix .. id
  end
  return redis.call('MGET', unpack(keys))
end
