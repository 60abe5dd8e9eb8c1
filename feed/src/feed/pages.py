"""Reading a page of one feed: one page script call returns the entries, the feed's length, the
cached copies of the page's tweets and the reader's side of them (feed.viewers), in one round trip
on one Redis server; on a Redis Cluster the cached copies are read per key after the script."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import cast

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from feed.entries import canonical_id, entry_parts, feed_key
from feed.scripts import lua
from feed.slots import get_many
from shared.lifecycle import is_cluster, redis_outage

# A reader's hidden-set and like/repost-state keys (feed.viewers), read with a page; None: not read.
ViewerKeys = tuple[str, str] | None

# Page scripts are prefixed with cached.lua and viewer.lua: their shared helpers.
_PAGE = lua("cached", "viewer", "page")
_PAGE_BEFORE = lua("cached", "viewer", "page_before")
_PAGE_SINCE = lua("cached", "viewer", "page_since")


@dataclass(frozen=True)
class FeedSlice:
    """A page of one feed: tweet ids, the feed's length, and the position of the first id."""

    ids: list[str]
    total: int
    offset: int
    # With a cache prefix: the value of `<prefix><id>` for each id (None where absent).
    cached: list[str | None] = field(default_factory=list)
    # Set where the position does not tell (a merged page, feed.merged): whether entries follow.
    more: bool | None = None
    # With viewer keys, on one Redis server: the reader's side of the page as viewer.lua read it
    # (parsed by feed.viewers.ViewerCache.parse); None where it was not read with the page.
    viewer: list[object] | None = None

    @property
    def has_more(self) -> bool:
        if self.more is not None:
            return self.more
        return self.offset + len(self.ids) < self.total


def _slice(reply: list[object]) -> FeedSlice:
    total, offset, ids, cached, viewer = reply
    return FeedSlice(
        ids=list(cast(list[str], ids)),
        total=int(cast(int, total)),
        offset=int(cast(int, offset)),
        cached=list(cast(list[str | None], cached)),
        viewer=cast(list[object], viewer) or None,
    )


class FeedPages:
    """Reads pages of the feed lists; safe to share between concurrent tasks (the Redis client must
    decode responses)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._cluster = is_cluster(redis)
        self._page = redis.register_script(_PAGE)
        self._page_before = redis.register_script(_PAGE_BEFORE)
        self._page_since = redis.register_script(_PAGE_SINCE)

    async def page(
        self,
        user_id: uuid.UUID | str,
        limit: int,
        offset: int,
        cache_prefix: str = "",
        viewer_keys: ViewerKeys = None,
    ) -> FeedSlice:
        """`limit` ids from position `offset`, the feed's length and (with `cache_prefix`) the cached
        copies of those tweets and (with `viewer_keys`) the reader's side of them, in one round trip."""
        return await self._read_page(self._page, user_id, offset, limit, cache_prefix, viewer_keys)

    async def page_by_cursor(
        self,
        user_id: uuid.UUID | str,
        limit: int,
        *,
        before: uuid.UUID | str | None = None,
        since: uuid.UUID | str | None = None,
        cache_prefix: str = "",
        viewer_keys: ViewerKeys = None,
    ) -> FeedSlice:
        """With `before`, up to `limit` entries strictly older than it (stable paging while new
        tweets arrive); with `since`, the newest entries strictly newer than it (at most `limit`)."""
        if before is not None and since is None:
            script, anchor = self._page_before, before
        elif since is not None and before is None:
            script, anchor = self._page_since, since
        else:
            raise ValueError("page by exactly one of before and since")
        return await self._read_page(script, user_id, canonical_id(anchor), limit, cache_prefix, viewer_keys)

    async def _read_page(
        self,
        script: AsyncScript,
        user_id: uuid.UUID | str,
        start: int | str,
        limit: int,
        cache_prefix: str,
        viewer_keys: ViewerKeys,
    ) -> FeedSlice:
        """One page script's call: the scripts read the cached copies and the reader's side only
        where they need not declare those keys (one server); on a cluster the copies come after."""
        hidden, state = viewer_keys or ("", "")
        extras = ("", "", "") if self._cluster else (cache_prefix, hidden, state)
        async with redis_outage():
            reply = await script(keys=[feed_key(user_id)], args=[start, limit, *extras])
            return await self._hydrated(_slice(reply), cache_prefix)

    async def _hydrated(self, page: FeedSlice, cache_prefix: str) -> FeedSlice:
        """On a Redis Cluster, the cached copies read per key after the script."""
        if not (self._cluster and cache_prefix):
            return page
        keys = [f"{cache_prefix}{entry_parts(entry)[0]}" for entry in page.ids]
        cached = await get_many(self._redis, keys)
        return FeedSlice(ids=page.ids, total=page.total, offset=page.offset, cached=cached)
