"""Big authors' lists: hybrid fan-out.

An author with more followers than `[FeedWorker] fanout_max_followers` is not written into each
follower's `feed:<id>`: their new tweets and reposts go into one list, `author-feed:<author id>`
(the feed list's format: newest first, one entry per tweet, at most FEED_LENGTH), and a reader's
page merges the lists of the big authors they follow with their own (feed.merged). The set
`big-authors` names the authors in that mode; feed_worker keeps it, moving an author in or out when
their follower count crosses the threshold at their next tweet or repost.

Every script here touches one key, so all of it runs unchanged on a Redis Cluster. A push checks the
tweet's (and repost's) tombstone before and after it, and takes the entry back out if a delete came
in between: a delete sets the tombstone before it removes, as FeedStore's cluster path relies on too.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import cast

from redis.asyncio import Redis

from feed.entries import FEED_LENGTH, canonical_entry, entry_parts, repost_tombstone_key, tombstone_key
from feed.scripts import lua
from feed.slots import ClusterScript, any_exist
from shared.lifecycle import redis_outage

AUTHOR_FEED_PREFIX = "author-feed:"
BIG_AUTHORS_KEY = "big-authors"
# How long a process trusts its copy of `big-authors` (one SMEMBERS per process per period).
BIG_AUTHORS_TTL_SECONDS = 5.0
_PUSH = lua("author_push")


def author_feed_key(author_id: uuid.UUID | str) -> str:
    return f"{AUTHOR_FEED_PREFIX}{author_id}"


def _tombstones(entry: str) -> list[str]:
    tweet_id, reposter = entry_parts(entry)
    keys = [tombstone_key(tweet_id)]
    if reposter is not None:
        keys.append(repost_tombstone_key(entry[:36]))
    return keys


class AuthorFeeds:
    """The `author-feed:<id>` lists and the `big-authors` set (the client must decode responses)."""

    def __init__(self, redis: Redis, max_length: int = FEED_LENGTH) -> None:
        self._redis = redis
        self._max_length = max_length
        self._push = ClusterScript(redis, _PUSH)
        self._big: frozenset[str] = frozenset()
        self._big_until = 0.0

    async def push(self, author_id: str, entry: str) -> bool:
        """Put a tweet id or repost entry into the author's list (unless the list shows the tweet
        already, or it was deleted or undone); True if it went in."""
        entry = canonical_entry(entry)
        tweet_id, _ = entry_parts(entry)
        key = author_feed_key(author_id)
        tombstones = _tombstones(entry)
        async with redis_outage():
            if await any_exist(self._redis, tombstones):
                return False
            (pushed,) = await self._push.run_grouped([[key]], [entry, tweet_id, self._max_length])
            if await any_exist(self._redis, tombstones):
                await self._redis.lrem(key, 0, entry)
                return False
        return bool(pushed)

    async def remove(self, author_id: str, entries: Iterable[str]) -> int:
        """Take entries out of the author's list; returns how many went."""
        key = author_feed_key(author_id)
        removed = 0
        async with redis_outage():
            for entry in entries:
                removed += int(await self._redis.lrem(key, 0, canonical_entry(entry)))
        return removed

    async def entries(self, author_id: str) -> list[str]:
        """The author's whole list, newest first."""
        async with redis_outage():
            return cast(list[str], await self._redis.lrange(author_feed_key(author_id), 0, -1))

    async def drop(self, author_id: str) -> None:
        async with redis_outage():
            await self._redis.delete(author_feed_key(author_id))

    async def is_big(self, author_id: str) -> bool:
        """Whether the author is in the big-author mode now (read from Redis, never cached)."""
        async with redis_outage():
            return bool(await self._redis.sismember(BIG_AUTHORS_KEY, author_id))

    async def mark_big(self, author_id: str) -> None:
        async with redis_outage():
            await self._redis.sadd(BIG_AUTHORS_KEY, author_id)

    async def unmark_big(self, author_id: str) -> None:
        async with redis_outage():
            await self._redis.srem(BIG_AUTHORS_KEY, author_id)

    async def big_authors(self) -> frozenset[str]:
        """Every big author, as this process saw the set at most BIG_AUTHORS_TTL_SECONDS ago."""
        now = time.monotonic()
        if now >= self._big_until:
            async with redis_outage():
                members = await self._redis.smembers(BIG_AUTHORS_KEY)
            fresh = frozenset(cast(set[str], members))
            # The same object while the set is unchanged: readers' cached intersections stay valid.
            if fresh != self._big:
                self._big = fresh
            self._big_until = now + BIG_AUTHORS_TTL_SECONDS
        return self._big
