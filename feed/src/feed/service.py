"""Reading a feed: a page of ids and their cached tweets from Redis (one script call) and, for the
ids the cache misses, one tweets GetTweets call whose answers fill the cache."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from feed import tweetcache
from feed.feedstore import FEED_LENGTH, FeedSlice, FeedStore
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


@dataclass(frozen=True)
class FeedPage:
    # Each tweet as its REST JSON object (the cache's form: a REST page is these, joined).
    tweets: list[str]
    total: int
    limit: int
    offset: int
    has_more: bool
    # The last feed entry of the page (deleted tweets keep their place): `before` of the next page.
    next_cursor: str | None = None


class FeedService:
    def __init__(self, store: FeedStore, cache: TweetCache, tweets: TweetAsyncStub) -> None:
        self._store = store
        self._cache = cache
        self._tweets = tweets

    async def page(
        self, user_id: uuid.UUID, limit: int, offset: int = 0, before: uuid.UUID | None = None
    ) -> FeedPage:
        """A page of the user's feed, newest first; with `before`, the tweets strictly older than it.

        `total`, `offset` and `has_more` count feed entries, so a page may hold fewer tweets than
        `limit` when some were deleted since they were fanned out.
        """
        check_page(limit, offset, before)
        ids: FeedSlice
        if before is not None:
            ids = await self._store.page_before(user_id, before, limit, tweetcache.KEY_PREFIX)
        else:
            ids = await self._store.page(user_id, limit, offset, tweetcache.KEY_PREFIX)
        return FeedPage(
            tweets=await self._hydrate(ids.ids, ids.cached),
            total=ids.total,
            limit=limit,
            offset=ids.offset,
            has_more=ids.has_more,
            next_cursor=next_cursor(ids.has_more, ids.ids[-1] if ids.ids else None),
        )

    async def _hydrate(self, ids: list[str], cached: list[str | None]) -> list[str]:
        """The tweets in feed order, from the cache or else from tweets (filling the cache); ids that
        tweets no longer has (deleted) are left out."""
        missing = [tweet_id for tweet_id, body in zip(ids, cached, strict=True) if body is None]
        if not missing:
            return cast(list[str], cached)
        reply = await self._tweets.GetTweets(tweet_service_pb2.GetTweetsRequest(tweet_ids=missing))
        fetched = {tweet.id: tweet_json(tweet) for tweet in reply.tweets}
        await self._cache.put_many(fetched)
        return [
            body if body is not None else fetched[tweet_id]
            for tweet_id, body in zip(ids, cached, strict=True)
            if body is not None or tweet_id in fetched
        ]


def check_page(limit: int, offset: int, before: uuid.UUID | None) -> None:
    """The same bounds on every transport (REST validates them first for a precise 422)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}")
    if before is not None and offset:
        raise InvalidInput("page either by offset or by before, not both")
