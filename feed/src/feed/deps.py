"""What the feed routes get from the lifespan's wiring, as typed dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from feed.items import FeedItems
from feed.service import FeedService
from shared.wiring import Authenticating, wiring_of


@dataclass(kw_only=True)
class FeedWiring(Authenticating):
    """Everything the feed process builds in its lifespan for its routes and /ready."""

    feed: FeedService
    # Authors, viewer state and reposters of a page (users and tweets by gRPC), used by `feed`.
    items: FeedItems
    redis: Redis


async def _feed(request: Request) -> FeedService:
    return wiring_of(request.app, FeedWiring).feed


Feed = Annotated[FeedService, Depends(_feed)]
