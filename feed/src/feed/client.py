"""The feed area's API for other services: they tell it what changed, never touch its Redis keys."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from redis.asyncio import Redis

from feed.tweetcache import TweetCache


class FeedCacheClient:
    """tweets calls this after a committed change to tweets (content, counters, existence)."""

    def __init__(self, redis: Redis) -> None:
        self._cache = TweetCache(redis)

    async def tweets_changed(self, tweet_ids: Iterable[uuid.UUID | str]) -> None:
        """Drop the feed's cached copies of these tweets; never fails the caller."""
        await self._cache.drop_after_change(tweet_ids)

    async def close(self) -> None:
        """Finish the pending second drops (at shutdown)."""
        await self._cache.close()
