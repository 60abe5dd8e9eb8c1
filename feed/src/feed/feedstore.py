"""The Redis feed store: `feed:<user_id>` lists of tweet ids, newest first, at most 1000, no duplicates.

Tweet ids are UUIDv7 strings, so string order is creation order; every write keeps each list sorted
newest first. Writes that must read before they write (ordering, dedup) run as Lua scripts, which
Redis executes atomically, so concurrent workers cannot interleave inside one list. Scripts are
registered once per store and called with EVALSHA; fan-out sends one script call per batch of
feeds, and all batches go in one pipeline, never one round trip per follower.

Lua compares the ids as strings; canonical UUID strings (lower-case hex, hyphens at fixed places)
sort the same under any collation, which is why ids are normalised before they are written.
On a Redis Cluster (`REDIS__CLUSTER=true`) the same scripts run per hash slot (feed.slots).
A deleted tweet leaves a short-lived tombstone (`deleted-tweet:<id>`) that fan-out checks inside
its script, so a create event handled after (or during) the delete cannot bring the tweet back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TypeVar, cast

from redis.asyncio import Redis

from feed.slots import ClusterScript, by_slot, get_many
from shared.lifecycle import is_cluster, redis_outage

FEED_LENGTH = 1000
KEY_PREFIX = "feed:"
TOMBSTONE_PREFIX = "deleted-tweet:"
# How long a deleted tweet is refused by fan-out: far longer than any redelivery or retry lasts.
TOMBSTONE_SECONDS = 24 * 3600
T = TypeVar("T")

# The scripts live in lua/ (one file each, read once at import); their headers say what KEYS and
# ARGV hold. Page scripts are prefixed with cached.lua, their shared helper.
_LUA = Path(__file__).parent / "lua"


def _script(*names: str) -> str:
    return "".join((_LUA / f"{name}.lua").read_text() for name in names)


_INSERT = _script("fan_out")
_MERGE = _script("merge")
_PAGE = _script("cached", "page")
_PAGE_BEFORE = _script("cached", "page_before")


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
        self._cluster = is_cluster(redis)
        self._insert_per_slot = ClusterScript(redis, _INSERT)

    async def fan_out(self, tweet_id: uuid.UUID | str, user_ids: Iterable[uuid.UUID | str]) -> int:
        """Insert one tweet into many feeds in sorted position; returns how many feeds changed."""
        tweet = canonical_id(tweet_id)
        tombstone = tombstone_key(tweet)
        if self._cluster:
            return await self._fan_out_cluster(tweet, tombstone, user_ids)
        async with redis_outage(), self._redis.pipeline(transaction=False) as pipe:
            for batch in _batches(map(str, user_ids), self._batch_size):
                await self._insert(
                    keys=[tombstone], args=[tweet, self._max_length, KEY_PREFIX, " ".join(batch)], client=pipe
                )
            results = await pipe.execute()
        return sum(int(result) for result in results)

    async def _fan_out_cluster(self, tweet: str, tombstone: str, user_ids: Iterable[uuid.UUID | str]) -> int:
        """fan_out on a Redis Cluster: per batch, one script call per hash slot, with the tombstone
        checked before and after (see feed.slots for why that is as safe as the atomic check)."""
        changed = 0
        async with redis_outage():
            if await self._redis.exists(tombstone):
                return 0
            for batch in _batches(map(feed_key, user_ids), self._batch_size):
                results = await self._insert_per_slot.run_grouped(
                    by_slot(batch), [tweet, self._max_length, "", ""]
                )
                changed += sum(int(cast(int, result)) for result in results)
                if await self._redis.exists(tombstone):
                    await self.remove([tweet], [key.removeprefix(KEY_PREFIX) for key in batch])
                    return 0
        return changed

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
            reply = await self._page(
                keys=[feed_key(user_id)], args=[offset, limit, self._in_script(cache_prefix)]
            )
            return await self._hydrated(_slice(reply), cache_prefix)

    async def page_before(
        self, user_id: uuid.UUID | str, before: uuid.UUID | str, limit: int, cache_prefix: str = ""
    ) -> FeedSlice:
        """Up to `limit` ids strictly older than `before`: stable paging while new tweets arrive."""
        async with redis_outage():
            reply = await self._page_before(
                keys=[feed_key(user_id)], args=[canonical_id(before), limit, self._in_script(cache_prefix)]
            )
            return await self._hydrated(_slice(reply), cache_prefix)

    def _in_script(self, cache_prefix: str) -> str:
        # The page scripts read the cached copies only where they need not declare them (one server).
        return "" if self._cluster else cache_prefix

    async def _hydrated(self, page: FeedSlice, cache_prefix: str) -> FeedSlice:
        """On a Redis Cluster, the cached copies read per key after the script."""
        if not (self._cluster and cache_prefix):
            return page
        cached = await get_many(self._redis, [f"{cache_prefix}{tweet_id}" for tweet_id in page.ids])
        return FeedSlice(ids=page.ids, total=page.total, offset=page.offset, cached=cached)

    async def ids(self, user_id: uuid.UUID | str) -> list[str]:
        """The whole feed, newest first."""
        async with redis_outage():
            return cast(list[str], await self._redis.lrange(feed_key(user_id), 0, -1))

    async def ping(self) -> None:
        async with redis_outage():
            await self._redis.ping()
