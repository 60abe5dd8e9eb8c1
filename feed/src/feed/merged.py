"""A reader's page when they follow big authors: their own `feed:<id>` merged with the big authors'
`author-feed:<id>` lists, in Python. On one Redis server a page's windows of all the lists come
from one script call; on a Redis Cluster each list is read with single-key calls, pipelined.

The merged feed is every entry of those lists, newest first by sort key, keeping for each tweet only
its newest entry (a tweet reposted later shows at the repost, once). That is a function of the lists
alone, so pages stay stable while tweets arrive:
- a page from the top (offset) reads the first `offset + limit + 1` entries of each list. Each list
  holds one entry per tweet, so the merged feed's first n entries lie within each list's first n;
- a page `before` a cursor reads the entries older than it, plus the tweet ids of repost entries
  newer than it (window_before.lua): those tweets are shown above the cursor and not again below;
- entries are only taken down to the newest last-read entry among the lists that have more, where
  an unread older entry of such a list could still belong: the page is read again with a larger
  window when that or duplicates left it short.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from feed.authorfeeds import author_feed_key
from feed.entries import FEED_LENGTH, canonical_id, entry_cursor, entry_parts, feed_key
from feed.pages import FeedSlice, ViewerKeys
from feed.scripts import lua
from feed.slots import ClusterScript, get_many
from shared.lifecycle import is_cluster, redis_outage

_WINDOW_BEFORE = lua("window_before")
_WINDOWS = lua("windows")
# A window never needs more than a whole list.
MAX_WINDOW = FEED_LENGTH + 1


@dataclass(frozen=True)
class Window:
    """The part of one list a page needs."""

    entries: list[str]  # newest first
    length: int  # the list's length
    more: bool  # the list has entries past `entries` on this side of the cursor
    newer_reposted: frozenset[str] = frozenset()  # tweet ids reposted newer than the cursor


def merge(windows: Sequence[Window], skip: int, limit: int) -> tuple[list[str], bool, bool]:
    """(the page, whether the merged feed goes on past it, whether the windows were enough)."""
    shown_above = frozenset().union(*(window.newer_reposted for window in windows))
    # Past the newest last-read entry of a list with more, that list's unread entries may belong.
    floor = max((entry_cursor(w.entries[-1]) for w in windows if w.more and w.entries), default="")
    seen: set[str] = set()
    merged: list[str] = []
    for entry in heapq.merge(*(w.entries for w in windows), key=entry_cursor, reverse=True):
        if entry_cursor(entry) < floor:
            break
        tweet_id = entry_parts(entry)[0]
        if tweet_id in seen or tweet_id in shown_above:
            continue
        seen.add(tweet_id)
        merged.append(entry)
    page = merged[skip : skip + limit]
    truncated = any(window.more for window in windows)
    has_more = len(merged) > skip + limit or truncated
    return page, has_more, len(page) == limit or not truncated


class MergedFeeds:
    """Pages of a reader's feed merged with big authors' lists."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._cluster = is_cluster(redis)
        self._window_before = ClusterScript(redis, _WINDOW_BEFORE)
        # One Redis server: each page's windows in one script call over all the lists.
        self._windows_script = redis.register_script(_WINDOWS)
        self._windows_before_script = redis.register_script(_WINDOW_BEFORE)

    async def page(
        self,
        user_id: str,
        authors: Sequence[str],
        limit: int,
        offset: int = 0,
        before: str | None = None,
        since: str | None = None,
        cache_prefix: str = "",
        viewer_keys: ViewerKeys = None,
    ) -> FeedSlice:
        """As FeedStore.page / page_before / page_since, over the merged lists. `total` counts the
        entries of all the lists (duplicates and hidden ones included): an upper bound."""
        keys = [feed_key(user_id), *(author_feed_key(author) for author in authors)]
        skip = offset if before is None and since is None else 0
        size = skip + limit + 1
        async with redis_outage():
            while True:
                if before is not None:
                    windows = await self._older(keys, canonical_id(before), size)
                else:
                    windows = await self._newest(keys, size)
                page, has_more, enough = merge(windows, skip, limit)
                if enough or size >= MAX_WINDOW:
                    break
                size = min(size * 2, MAX_WINDOW)
            if since is not None:
                cursor = canonical_id(since)
                page = list(itertools.takewhile(lambda entry: entry_cursor(entry) > cursor, page))
            cached, viewer = await self._cached(page, cache_prefix, viewer_keys)
        return FeedSlice(
            ids=page,
            total=sum(window.length for window in windows),
            offset=skip,
            cached=cached,
            more=has_more,
            viewer=viewer,
        )

    async def _newest(self, keys: list[str], size: int) -> list[Window]:
        if self._cluster:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.lrange(key, 0, size - 1)
                    pipe.llen(key)
                replies = await pipe.execute()
        else:
            replies = cast(list[object], await self._windows_script(keys=keys, args=[size]))
        windows = []
        for entries, length in zip(replies[::2], replies[1::2], strict=True):
            older = cast(list[str], entries)
            windows.append(Window(older, int(cast(int, length)), more=len(older) < int(cast(int, length))))
        return windows

    async def _older(self, keys: list[str], cursor: str, size: int) -> list[Window]:
        if self._cluster:
            groups = await self._window_before.run_grouped([[key] for key in keys], [cursor, size])
            replies = [cast(list[object], group)[0] for group in groups]
        else:
            replies = cast(list[object], await self._windows_before_script(keys=keys, args=[cursor, size]))
        windows = []
        for reply in replies:
            length, entries, reposted = cast(list[object], reply)
            older = cast(list[str], entries)
            windows.append(
                Window(
                    older,
                    int(cast(int, length)),
                    # The script stops at `size`: a full window may have more below it.
                    more=len(older) >= size,
                    newer_reposted=frozenset(cast(list[str], reposted)),
                )
            )
        return windows

    async def _cached(
        self, page: list[str], cache_prefix: str, viewer_keys: ViewerKeys
    ) -> tuple[list[str | None], list[object] | None]:
        """The page's cached tweets and, on one Redis server with `viewer_keys`, the reader's side of
        it (as viewer.lua answers: GET hidden, HMGET states, HLEN states) in the same round trip: a
        merged read then costs two round trips, as the windows need theirs first."""
        if not page or not (cache_prefix or viewer_keys):
            return [None] * len(page), None
        keys = [f"{cache_prefix}{entry_parts(entry)[0]}" for entry in page] if cache_prefix else []
        none: list[str | None] = [None] * len(page)
        if self._cluster:
            return (await get_many(self._redis, keys) if keys else none), None
        async with self._redis.pipeline(transaction=False) as pipe:
            if keys:
                pipe.mget(keys)
            if viewer_keys is not None:
                hidden, states = viewer_keys
                pipe.get(hidden)
                pipe.hmget(states, [entry_parts(entry)[0] for entry in page])
                pipe.hlen(states)
            replies = await pipe.execute()
        cached = cast(list[str | None], replies.pop(0)) if keys else none
        return cached, (replies or None)
