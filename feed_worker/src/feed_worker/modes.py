"""Which fan-out mode an author's write takes, and the move between modes (feed.authorfeeds).

Checked at each tweet or repost of the author (one GetUser call and one SISMEMBER): until they
write, the mode they are in changes nothing. Moving loses and duplicates nothing:
- becoming big: their list is seeded with their recent tweets and reposts, then they join
  `big-authors`; the entries already in followers' feeds stay (a merged read shows each tweet once);
- becoming small: every follower's feed gets the list's entries merged in, then they leave
  `big-authors`, then entries pushed meanwhile (a write another worker handled as big) are merged
  too; a write handled as big checks the set after its push and fans out itself if the author left,
  so each write lands in the followers' feeds through one path or the other.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Counter

from feed.authorfeeds import AuthorFeeds
from feed.entries import entry_cursor
from feed.feedstore import FeedStore
from feed.sources import FollowGraph, TweetSource

logger = logging.getLogger(__name__)
MODE_CHANGES = Counter("feed_author_mode_changes", "Authors moved between fan-out modes", ["to"])
# Followers' feeds merged at once when an author becomes small.
CONCURRENT_MERGES = 16


class AuthorModes:
    def __init__(
        self,
        store: FeedStore,
        authors: AuthorFeeds,
        graph: FollowGraph,
        tweets: TweetSource,
        max_followers: int,
        seed_limit: int,
    ) -> None:
        self._store = store
        self._authors = authors
        self._graph = graph
        self._tweets = tweets
        self._max_followers = max_followers
        self._seed_limit = seed_limit

    async def is_big(self, author_id: str) -> bool:
        """Whether the author's next write goes to their list rather than to followers' feeds
        (moving them between modes first when their follower count crossed the threshold)."""
        followers = await self._graph.follower_count(author_id)
        was_big = await self._authors.is_big(author_id)
        if followers > self._max_followers:
            if not was_big:
                await self._become_big(author_id)
            return True
        if was_big:
            await self._become_small(author_id)
        return False

    async def _become_big(self, author_id: str) -> None:
        ids = await self._tweets.recent_ids(author_id, self._seed_limit)
        reposts = await self._tweets.recent_repost_entries(author_id, self._seed_limit)
        # Oldest first: each push then lands at the head (the script's cheap path).
        for entry in sorted([*ids, *reposts], key=entry_cursor):
            await self._authors.push(author_id, entry)
        await self._authors.mark_big(author_id)
        MODE_CHANGES.labels("big").inc()
        logger.info("author %s is fanned out at read time from now on", author_id)

    async def _become_small(self, author_id: str) -> None:
        first = await self._authors.entries(author_id)
        await self._merge_into_followers(author_id, first)
        await self._authors.unmark_big(author_id)
        known = set(first)
        late = [entry for entry in await self._authors.entries(author_id) if entry not in known]
        await self._merge_into_followers(author_id, late)
        await self._authors.drop(author_id)
        MODE_CHANGES.labels("fanout").inc()
        logger.info("author %s is fanned out on write again", author_id)

    async def _merge_into_followers(self, author_id: str, entries: list[str]) -> None:
        if not entries:
            return
        gate = asyncio.Semaphore(CONCURRENT_MERGES)

        async def merge(follower: str) -> None:
            async with gate:
                await self._store.merge(follower, entries)

        async for page in self._graph.follower_pages(author_id):
            await asyncio.gather(*map(merge, page))
