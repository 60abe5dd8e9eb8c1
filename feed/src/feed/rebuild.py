"""Rebuilding a feed from the source of truth: the accounts the user follows (users) and each one's
newest tweets and reposts (tweets), the user's own included.

Used when an inactive account returns (fan-out skipped it: feed.activity) and by `feed rebuild`.
The new list replaces the old one, so tweets of accounts unfollowed meanwhile go too; a fan-out that
lands while the rebuild reads is kept, because the merge script merges into what the list holds then.
"""

from __future__ import annotations

import asyncio

from prometheus_client import Counter

from feed.activity import Activity
from feed.feedstore import FeedStore
from feed.sources import FollowGraph, TweetSource

# How many accounts' tweets are read at once for one feed.
CONCURRENT_READS = 8
REBUILDS = Counter("feed_returning_rebuilds", "Feeds rebuilt because an inactive account came back")


class FeedRebuilder:
    def __init__(self, store: FeedStore, graph: FollowGraph, tweets: TweetSource, per_author: int) -> None:
        self._store = store
        self._graph = graph
        self._tweets = tweets
        self._per_author = per_author

    async def rebuild(self, user_id: str) -> int:
        """Replace the user's feed with a fresh one; returns its length."""
        accounts = [user_id]
        async for page in self._graph.following_pages(user_id):
            accounts.extend(page)
        gate = asyncio.Semaphore(CONCURRENT_READS)

        async def recent(account: str) -> list[str]:
            async with gate:
                ids = await self._tweets.recent_ids(account, self._per_author)
                reposts = await self._tweets.recent_repost_entries(account, self._per_author)
                return [*ids, *reposts]

        entries = [entry for found in await asyncio.gather(*map(recent, accounts)) for entry in found]
        return await self._store.replace(user_id, entries)


class ReturningReaders:
    """Records each authenticated reader (feed.activity) and rebuilds the feed of one returning
    after `inactive_after_days` before their request is answered."""

    def __init__(self, activity: Activity, rebuilder: FeedRebuilder) -> None:
        self._activity = activity
        self._rebuilder = rebuilder

    async def seen(self, user_id: str) -> None:
        last_seen = await self._activity.touch(user_id)
        if last_seen is None:
            return
        REBUILDS.inc()
        try:
            await self._rebuilder.rebuild(user_id)
        except BaseException:
            # Still stale: the next request must find the account inactive and try again.
            await self._activity.restore(user_id, last_seen)
            raise
