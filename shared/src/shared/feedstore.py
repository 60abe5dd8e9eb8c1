"""The Redis feed store: `feed:<user_id>` lists of tweet ids, newest first, at most 1000, no duplicates.

Tweet ids are UUIDv7 strings, so string order is creation order; every write keeps each list sorted
newest first. Writes that must read before they write (ordering, dedup) run as Lua scripts, which
Redis executes atomically, so concurrent workers cannot interleave inside one list. Scripts are
registered once per store and called with EVALSHA; fan-out sends one script call per batch of
feeds, and all batches go in one pipeline, never one round trip per follower.

Lua compares the ids as strings; canonical UUID strings (lower-case hex, hyphens at fixed places)
sort the same under any collation, which is why ids are normalised before they are written.
A deleted tweet leaves a short-lived tombstone (`deleted-tweet:<id>`) that fan-out checks inside
its script, so a create event handled after (or during) the delete cannot bring the tweet back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import TypeVar, cast

from redis.asyncio import Redis

from shared.lifecycle import redis_outage

FEED_LENGTH = 1000
KEY_PREFIX = "feed:"
TOMBSTONE_PREFIX = "deleted-tweet:"
# How long a deleted tweet is refused by fan-out: far longer than any redelivery or retry lasts.
TOMBSTONE_SECONDS = 24 * 3600
T = TypeVar("T")

# KEYS[1]: the tweet's tombstone; ARGV[1]: the tweet id; ARGV[2]: the maximum length; ARGV[3]: the
# feed key prefix; ARGV[4]: the feeds' user ids, space-separated. Returns how many feeds changed. A
# deleted tweet (tombstone set) is never inserted again. The feed keys are built here rather than
# declared in KEYS: packing 1000 separate arguments per call cost the worker more CPU than Redis
# spends running the script (fine on one Redis server, not on a Redis Cluster).
_INSERT = """
local WINDOW = 64
local id = ARGV[1]
local max = tonumber(ARGV[2])
local changed = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
for user in string.gmatch(ARGV[4], '%S+') do
  local key = ARGV[3] .. user
  local head = redis.call('LINDEX', key, 0)
  if not head or id > head then
    -- LPUSH returns the new length: trim only a feed that actually grew past the maximum, by
    -- popping the one id it grew by (RPOP costs a third of an LTRIM of a full feed).
    local length = redis.call('LPUSH', key, id)
    if length == max + 1 then
      redis.call('RPOP', key)
    elseif length > max then
      redis.call('LTRIM', key, 0, max - 1)
    end
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
    for _, item in ipairs(items) do
      if item == id then duplicate = true break end
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
return changed
"""

# KEYS[1]: a feed; ARGV[1]: the maximum length; ARGV[2..]: ids. Returns the feed's new length.
_MERGE = """
local max = tonumber(ARGV[1])
local seen = {}
local ids = {}
for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if not seen[item] then
    seen[item] = true
    ids[#ids + 1] = item
  end
end
local before = #ids
for i = 2, #ARGV do
  local item = ARGV[i]
  if not seen[item] then
    seen[item] = true
    ids[#ids + 1] = item
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
"""

# Both page scripts end with the cached copies of the page's tweets (MGET of ARGV[3] .. id, nil where
# absent; none when ARGV[3] is empty), so a hydrated page is one round trip. Those keys are not
# declared in KEYS: fine on one Redis server, not on a Redis Cluster.
_CACHED = """
local function cached(prefix, ids)
  if prefix == '' or #ids == 0 then
    return {}
  end
  local keys = {}
  for i, id in ipairs(ids) do
    keys[i] = prefix .. id
  end
  return redis.call('MGET', unpack(keys))
end
"""

# KEYS[1]: the feed; ARGV[1]: offset; ARGV[2]: limit. Returns {length, offset, ids, cached}.
_PAGE = (
    _CACHED
    + """
local offset = tonumber(ARGV[1])
local ids = redis.call('LRANGE', KEYS[1], offset, offset + tonumber(ARGV[2]) - 1)
return {redis.call('LLEN', KEYS[1]), offset, ids, cached(ARGV[3], ids)}
"""
)

# KEYS[1]: a feed; ARGV[1]: an id; ARGV[2]: page size. Returns {length, offset, ids strictly older,
# cached}. Scans for the first older element, so it works even when ARGV[1] is no longer in the feed.
_PAGE_BEFORE = (
    _CACHED
    + """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local limit = tonumber(ARGV[2])
local start = #items
for i, item in ipairs(items) do
  if item < ARGV[1] then
    start = i - 1
    break
  end
end
local page = {}
for i = start + 1, math.min(start + limit, #items) do
  page[#page + 1] = items[i]
end
return {#items, start, page, cached(ARGV[3], page)}
"""
)


def feed_key(user_id: uuid.UUID | str) -> str:
    return f"{KEY_PREFIX}{user_id}"


def tombstone_key(tweet_id: str) -> str:
    return f"{TOMBSTONE_PREFIX}{tweet_id}"


def canonical_id(value: uuid.UUID | str) -> str:
    """The canonical string of a tweet id (lower case, hyphenated), the form every feed stores."""
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(value))


@dataclass(frozen=True)
class FeedSlice:
    """A page of one feed: tweet ids, the feed's length, and the position of the first id."""

    ids: list[str]
    total: int
    offset: int
    # With a cache prefix: the value of `<prefix><id>` for each id (None where absent).
    cached: list[str | None] = field(default_factory=list)

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.ids) < self.total


def _batches(items: Iterable[T], size: int) -> Iterable[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _slice(reply: list[object]) -> FeedSlice:
    total, offset, ids, cached = reply
    return FeedSlice(
        ids=list(cast(list[str], ids)),
        total=int(cast(int, total)),
        offset=int(cast(int, offset)),
        cached=list(cast(list[str | None], cached)),
    )


class FeedStore:
    """Reads and writes the feed lists; safe to share between concurrent tasks.

    The Redis client must decode responses (`decode_responses=True`, as `shared.lifecycle.redis_client`).
    """

    def __init__(self, redis: Redis, batch_size: int = 1000, max_length: int = FEED_LENGTH) -> None:
        self._redis = redis
        self._batch_size = max(1, batch_size)
        self._max_length = max_length
        self._insert = redis.register_script(_INSERT)
        self._merge = redis.register_script(_MERGE)
        self._page = redis.register_script(_PAGE)
        self._page_before = redis.register_script(_PAGE_BEFORE)

    async def fan_out(self, tweet_id: uuid.UUID | str, user_ids: Iterable[uuid.UUID | str]) -> int:
        """Insert one tweet into many feeds in sorted position; returns how many feeds changed."""
        tweet = canonical_id(tweet_id)
        tombstone = tombstone_key(tweet)
        async with redis_outage(), self._redis.pipeline(transaction=False) as pipe:
            for batch in _batches(map(str, user_ids), self._batch_size):
                await self._insert(
                    keys=[tombstone], args=[tweet, self._max_length, KEY_PREFIX, " ".join(batch)], client=pipe
                )
            results = await pipe.execute()
        return sum(int(result) for result in results)

    async def merge(self, user_id: uuid.UUID | str, tweet_ids: Iterable[uuid.UUID | str]) -> int:
        """Merge tweets into one feed (sorted, deduplicated, trimmed); returns its new length."""
        ids = [canonical_id(tweet_id) for tweet_id in tweet_ids]
        if not ids:
            return 0
        async with redis_outage():
            return int(await self._merge(keys=[feed_key(user_id)], args=[self._max_length, *ids]))

    async def mark_deleted(self, tweet_id: uuid.UUID | str) -> None:
        """Refuse later fan-outs of a deleted tweet (a late or redelivered create event)."""
        async with redis_outage():
            await self._redis.set(tombstone_key(canonical_id(tweet_id)), 1, ex=TOMBSTONE_SECONDS)

    async def remove(self, tweet_ids: Iterable[uuid.UUID | str], user_ids: Iterable[uuid.UUID | str]) -> int:
        """Remove tweets from feeds (pipelined LREM); returns how many entries went."""
        ids = [canonical_id(tweet_id) for tweet_id in tweet_ids]
        if not ids:
            return 0
        removed = 0
        commands = ((feed_key(user_id), tweet) for user_id in user_ids for tweet in ids)
        async with redis_outage():
            for batch in _batches(commands, self._batch_size):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key, tweet in batch:
                        pipe.lrem(key, 0, tweet)
                    removed += sum(int(result) for result in await pipe.execute())
        return removed

    async def page(
        self, user_id: uuid.UUID | str, limit: int, offset: int, cache_prefix: str = ""
    ) -> FeedSlice:
        """`limit` ids from position `offset`, the feed's length and (with `cache_prefix`) the cached
        copies of those tweets, read in one round trip."""
        async with redis_outage():
            reply = await self._page(keys=[feed_key(user_id)], args=[offset, limit, cache_prefix])
        return _slice(reply)

    async def page_before(
        self, user_id: uuid.UUID | str, before: uuid.UUID | str, limit: int, cache_prefix: str = ""
    ) -> FeedSlice:
        """Up to `limit` ids strictly older than `before`: stable paging while new tweets arrive."""
        async with redis_outage():
            reply = await self._page_before(
                keys=[feed_key(user_id)], args=[canonical_id(before), limit, cache_prefix]
            )
        return _slice(reply)

    async def ids(self, user_id: uuid.UUID | str) -> list[str]:
        """The whole feed, newest first."""
        async with redis_outage():
            return cast(list[str], await self._redis.lrange(feed_key(user_id), 0, -1))

    async def ping(self) -> None:
        async with redis_outage():
            await self._redis.ping()
