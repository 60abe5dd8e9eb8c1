"""Which big authors a reader follows: the `big-authors` set (this process's copy, a few seconds
old at most) intersected with the reader's following list from users, cached per reader briefly.

While no author is big this costs nothing at all, and a warm reader costs no call either: GET /feed
stays one Redis round trip for the normal reader. A new follow of a big author shows within the
cache's lifetime (the worker's follow backfill puts the author's recent tweets into the feed at
once); a new big author shows as soon as this process sees the set change.
"""

from __future__ import annotations

import time

from feed.authorfeeds import AuthorFeeds
from feed.sources import FollowGraph

FOLLOWING_TTL_SECONDS = 30.0
# Past this many readers remembered, the oldest half is forgotten.
MAX_READERS = 50_000


class FollowedBigAuthors:
    def __init__(self, authors: AuthorFeeds, graph: FollowGraph, ttl: float = FOLLOWING_TTL_SECONDS) -> None:
        self._authors = authors
        self._graph = graph
        self._ttl = ttl
        # reader → (the big-author set it was computed from, when it expires, the big authors followed)
        self._readers: dict[str, tuple[frozenset[str], float, list[str]]] = {}

    async def of(self, reader_id: str) -> list[str]:
        """The big authors the reader follows, in id order (empty while none is big)."""
        big = await self._authors.big_authors()
        if not big:
            return []
        now = time.monotonic()
        cached = self._readers.get(reader_id)
        if cached is not None and cached[0] is big and cached[1] > now:
            return cached[2]
        followed: list[str] = []
        async for page in self._graph.following_pages(reader_id):
            followed.extend(user_id for user_id in page if user_id in big)
        followed.sort()
        if len(self._readers) >= MAX_READERS:
            for old in list(self._readers)[: MAX_READERS // 2]:
                del self._readers[old]
        self._readers[reader_id] = (big, now + self._ttl, followed)
        return followed
