"""Hydrated tweets in Redis: `tweet:<id>` holds the tweet's REST JSON, so a feed page is one Redis
round trip (`FeedStore.page` reads the ids and their cached copies in one script).

- feed fills it on a miss, from tweets' `GetTweets` (cache-aside; tweets stays the source of truth);
- tweets drops an entry after every committed change to the tweet (edit, delete, like, repost,
  reply), and again a moment later: a fill that read the old row just before the commit and
  wrote it just after the first drop is undone by the second;
- feed_worker drops it too on `tweet.update` / `tweet.delete`, which arrive at least once, so an
  edit or a delete is never served stale for long even if the direct drop was lost;
- every entry expires after `ttl_seconds`, which bounds what a lost drop (Redis down at that
  moment) can leave stale: only counters, as edits and deletes have the event path as well.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable

import redis.exceptions
from redis.asyncio import Redis

from shared.errors import DependencyUnavailable
from shared.lifecycle import redis_outage

logger = logging.getLogger(__name__)

KEY_PREFIX = "tweet:"
DEFAULT_TTL_SECONDS = 300
# The second drop after a change: longer than a GetTweets call plus the fill's SET normally take.
SECOND_DROP_SECONDS = 1.0


def tweet_key(tweet_id: uuid.UUID | str) -> str:
    return f"{KEY_PREFIX}{tweet_id}"


class TweetCache:
    """The `tweet:<id>` entries; the Redis client must decode responses (as `redis_client` builds it)."""

    def __init__(self, redis: Redis, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> None:
        self._redis = redis
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._pending: set[asyncio.Task[None]] = set()

    async def put_many(self, entries: dict[str, str]) -> None:
        """Cache tweets (id → JSON). Best effort: a failed fill only costs the next read a miss."""
        if not entries:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for tweet_id, body in entries.items():
                    pipe.set(tweet_key(tweet_id), body, px=self._ttl_ms)
                await pipe.execute()
        except redis.exceptions.RedisError as exc:
            logger.warning("tweet cache fill failed (%s)", exc)

    async def drop(self, tweet_ids: Iterable[uuid.UUID | str]) -> None:
        """Drop entries now; raises DependencyUnavailable if Redis cannot be reached."""
        keys = [tweet_key(tweet_id) for tweet_id in tweet_ids]
        if not keys:
            return
        async with redis_outage():
            # On a Redis Cluster, redis-py splits a multi-key DEL into one DEL per hash slot.
            await self._redis.delete(*keys)

    async def drop_after_change(self, tweet_ids: Iterable[uuid.UUID | str]) -> None:
        """After a committed change: drop now and once more a moment later, never failing the caller
        (the change is committed; the TTL and the event path bound a lost drop)."""
        ids = list(tweet_ids)
        if not ids:
            return
        await self._drop_quietly(ids)
        task = asyncio.create_task(self._drop_later(ids))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _drop_later(self, ids: list[uuid.UUID | str]) -> None:
        await asyncio.sleep(SECOND_DROP_SECONDS)
        await self._drop_quietly(ids)

    async def _drop_quietly(self, ids: list[uuid.UUID | str]) -> None:
        try:
            await self.drop(ids)
        except (DependencyUnavailable, redis.exceptions.RedisError) as exc:
            logger.warning("tweet cache drop failed (%s); the entry expires by itself", exc)

    async def close(self) -> None:
        """Finish the pending second drops (at shutdown)."""
        if self._pending:
            await asyncio.wait(self._pending, timeout=SECOND_DROP_SECONDS + 1)
