"""What the tweets routes get from the lifespan's wiring, as typed dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator
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


async def _wiring(request: Request) -> TweetsWiring:
    return wiring_of(request.app, TweetsWiring)


Wired = Annotated[TweetsWiring, Depends(_wiring)]


async def _service(wiring: Wired) -> AsyncIterator[TweetService]:
    """A TweetService in one transaction, committed before the response is sent; after the commit,
    the cached copies of the tweets it changed are dropped (so the next feed read shows the change)."""
    async with transaction(wiring.sessions) as session:
        service = TweetService(session, wiring.block_check, wiring.mention_resolver)
        yield service
    await wiring.feed_cache.tweets_changed(service.changed_tweets)
    await wiring.feed_cache.viewers_changed(service.changed_viewers)


Tweets = Annotated[TweetService, Depends(_service, scope="function")]


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
