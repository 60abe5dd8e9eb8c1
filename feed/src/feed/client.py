"""The feed area's API for other services: they tell it what changed, never touch its Redis keys."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from redis.asyncio import Redis

from feed.tweetcache import TweetCache
from feed.viewers import ViewerCache


class FeedCacheClient:
    """tweets calls this after a committed change to tweets (content, counters, existence) or to a
    user's likes and reposts."""

    def __init__(self, redis: Redis) -> None:
        self._cache = TweetCache(redis)
        self._viewers = ViewerCache(redis)

    async def tweets_changed(self, tweet_ids: Iterable[uuid.UUID | str]) -> None:
        """Drop the feed's cached copies of these tweets; never fails the caller."""
        await self._cache.drop_after_change(tweet_ids)

    async def viewers_changed(self, user_ids: Iterable[uuid.UUID | str]) -> None:
        """These users liked, unliked, reposted or unreposted: their next feed read asks again
        (feed.viewers); never fails the caller."""
        await self._viewers.state_changed_after_commit(user_ids)

    async def close(self) -> None:
        """Finish the pending second drops (at shutdown)."""
        await self._cache.close()
        await self._viewers.close()
