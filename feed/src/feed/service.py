"""Reading a feed: a page of ids and their cached tweets from Redis (one script call) and, for the
ids the cache misses, one tweets GetTweets call whose answers fill the cache."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from prometheus_client import Counter

from feed import tweetcache, viewers
from feed.bigfollows import FollowedBigAuthors
from feed.entries import FEED_LENGTH, entry_cursor, entry_parts
from feed.items import FeedItems
from feed.merged import MergedFeeds
from feed.pages import FeedPages, FeedSlice
from feed.rebuild import ReturningReaders
from feed.rendering import tweet_json
from feed.tweetcache import TweetCache
from fleet_proto import tweet_service_pb2
from shared.errors import InvalidInput
from shared.paging import next_cursor

if TYPE_CHECKING:
    from fleet_proto.tweet_service_pb2_grpc import TweetAsyncStub

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
# A feed never holds more ids than this, so no offset beyond it can find anything.
MAX_OFFSET = FEED_LENGTH
TWEET_CACHE = Counter(
    "feed_tweet_cache_lookups", "Tweets of feed pages found in the tweet cache or not", ["result"]
)


@dataclass(frozen=True)
class FeedPage:
    # Each tweet as its REST JSON object (the cache's form: a REST page is these, joined).
    tweets: list[str]
    total: int
    limit: int
    offset: int
    has_more: bool
    # The `before` value of the next page (the last entry's sort key); None on the last page.
    next_cursor: str | None = None


@dataclass(frozen=True)
class HybridReads:
    """What reading past fan-out needs: big authors' lists merged in, returning readers rebuilt."""

    big_authors: FollowedBigAuthors
    merged: MergedFeeds
    returning: ReturningReaders


class FeedService:
    def __init__(
        self,
        pages: FeedPages,
        cache: TweetCache,
        tweets: TweetAsyncStub,
        items: FeedItems | None = None,
        hybrid: HybridReads | None = None,
    ) -> None:
        self._pages = pages
        self._cache = cache
        self._tweets = tweets
        # None: bare tweets (no author, viewer state or block/mute filter).
        self._items = items
        # None: every feed is fanned out in full (no big author lists, no inactive accounts).
        self._hybrid = hybrid

    async def seen(self, user_id: uuid.UUID) -> None:
        """An authenticated reader's request: recorded, and their feed rebuilt first if they return
        from inactivity (fan-out skipped them meanwhile)."""
        if self._hybrid is not None:
            await self._hybrid.returning.seen(str(user_id))

    async def page(
        self,
        user_id: uuid.UUID,
        limit: int,
        offset: int = 0,
        before: uuid.UUID | None = None,
        since: uuid.UUID | None = None,
    ) -> FeedPage:
        """A page of the user's feed, newest first; with `before`, the entries strictly older than it;
        with `since`, the newest entries strictly newer than it.

        `total`, `offset` and `has_more` count feed entries, so a page may hold fewer items than
        `limit` when some were deleted since they were fanned out, or are hidden from the caller.
        """
        check_page(limit, offset, before, since)
        ids: FeedSlice
        # The reader's side of the items comes with the page (one round trip on one Redis server).
        viewer = self._items.viewer_keys(str(user_id)) if self._items is not None else None
        authors = await self._hybrid.big_authors.of(str(user_id)) if self._hybrid is not None else []
        if self._hybrid is not None and authors:
            ids = await self._hybrid.merged.page(
                str(user_id),
                authors,
                limit,
                offset,
                None if before is None else str(before),
                None if since is None else str(since),
                tweetcache.KEY_PREFIX,
                viewer,
            )
        elif before is not None:
            ids = await self._pages.page_by_cursor(
                user_id, limit, before=before, cache_prefix=tweetcache.KEY_PREFIX, viewer_keys=viewer
            )
        elif since is not None:
            ids = await self._pages.page_by_cursor(
                user_id, limit, since=since, cache_prefix=tweetcache.KEY_PREFIX, viewer_keys=viewer
            )
        else:
            ids = await self._pages.page(user_id, limit, offset, tweetcache.KEY_PREFIX, viewer)
        entries = await self._hydrate(ids.ids, ids.cached)
        if self._items is not None:
            snapshot = None
            if ids.viewer is not None:
                snapshot = viewers.parse(ids.viewer, [entry_parts(entry)[0] for entry in ids.ids])
            tweets = await self._items.render(str(user_id), entries, snapshot)
        else:
            tweets = [body for _, body in entries]
        return FeedPage(
            tweets=tweets,
            total=ids.total,
            limit=limit,
            offset=ids.offset,
            has_more=ids.has_more,
            next_cursor=next_cursor(ids.has_more, entry_cursor(ids.ids[-1]) if ids.ids else None),
        )

    async def _hydrate(self, entries: list[str], cached: list[str | None]) -> list[tuple[str, str]]:
        """(entry, tweet JSON) in feed order, from the cache or else from tweets (filling the cache);
        entries whose tweet tweets no longer has (deleted) are left out."""
        missing = list(
            {entry_parts(entry)[0] for entry, body in zip(entries, cached, strict=True) if body is None}
        )
        hits = len(entries) - sum(1 for body in cached if body is None)
        if hits:
            TWEET_CACHE.labels("hit").inc(hits)
        if len(entries) > hits:
            TWEET_CACHE.labels("miss").inc(len(entries) - hits)
        if not missing:
            return list(zip(entries, cast(list[str], cached), strict=True))
        reply = await self._tweets.GetTweets(tweet_service_pb2.GetTweetsRequest(tweet_ids=missing))
        fetched = {tweet.id: tweet_json(tweet) for tweet in reply.tweets}
        await self._cache.put_many(fetched)
        found = []
        for entry, body in zip(entries, cached, strict=True):
            text = body if body is not None else fetched.get(entry_parts(entry)[0])
            if text is not None:
                found.append((entry, text))
        return found


def check_page(limit: int, offset: int, before: uuid.UUID | None, since: uuid.UUID | None = None) -> None:
    """The same bounds on every transport (REST validates them first for a precise 422)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}")
    if before is not None and offset:
        raise InvalidInput("page either by offset or by before, not both")
    if since is not None and (offset or before is not None):
        raise InvalidInput("since_id goes with neither offset nor before")
