"""What the tweets routes get from the lifespan's wiring, as typed dependencies."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from feed.client import FeedCacheClient
from shared.db.engine import ReadSessionDep, transaction
from shared.wiring import Writing, wiring_of
from tweets.blocks import BlockCheck
from tweets.entities import MentionResolver
from tweets.items import TweetItems
from tweets.service import TimelineReader, TweetComposer, TweetService


@dataclass(kw_only=True)
class TweetsWiring(Writing):
    """Everything the tweets process builds in its lifespan for its routes and /ready."""

    # The hot paths on the raw pool, built once: POST /tweet and user timelines.
    composer: TweetComposer
    timelines: TimelineReader
    feed_cache: FeedCacheClient
    # Through the users service: who blocks whom (replies, likes, reposts) and @mentions to accounts.
    block_check: BlockCheck
    mention_resolver: MentionResolver
    # Authors and the caller's like/repost state of a page of tweets (one batch each).
    items: TweetItems

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[TweetService]:
        """A TweetService in one transaction, committed at the end of the block; after the commit,
        the cached copies of the tweets it changed are dropped (so the next feed read shows the
        change) and its viewers' feed state is asked again."""
        async with transaction(self.sessions) as session:
            service = TweetService(session, self.block_check, self.mention_resolver)
            yield service
        await self.feed_cache.tweets_changed(service.changed_tweets)
        await self.feed_cache.viewers_changed(service.changed_viewers)


async def _wiring(request: Request) -> TweetsWiring:
    return wiring_of(request.app, TweetsWiring)


Wired = Annotated[TweetsWiring, Depends(_wiring)]


async def _service(wiring: Wired) -> AsyncIterator[TweetService]:
    """A write's TweetService, committed before the response is sent."""
    async with wiring.writing() as service:
        yield service


Tweets = Annotated[TweetService, Depends(_service, scope="function")]


async def _transactions(wiring: Wired) -> Callable[[], AbstractAsyncContextManager[TweetService]]:
    return wiring.writing


# For the writes that answer with an item: the route reads the caller's like/repost state in the
# transaction (`async with transactions() as tweets:`), commits, and then renders, so the item shows
# the committed state (a like just made is liked_by_me), no row lock is held across the rendering's
# calls to users, and nothing after the commit needs PostgreSQL.
Transactions = Annotated[Callable[[], AbstractAsyncContextManager[TweetService]], Depends(_transactions)]


async def _reader(session: ReadSessionDep) -> TweetService:
    return TweetService(session)


# GET routes only read: they use autocommit sessions (no BEGIN/COMMIT round trips).
TweetReader = Annotated[TweetService, Depends(_reader)]


async def _composer(wiring: Wired) -> TweetComposer:
    return wiring.composer


Composer = Annotated[TweetComposer, Depends(_composer)]


async def _timelines(wiring: Wired) -> TimelineReader:
    return wiring.timelines


Timelines = Annotated[TimelineReader, Depends(_timelines)]


async def _items(wiring: Wired) -> TweetItems:
    return wiring.items


Items = Annotated[TweetItems, Depends(_items)]
