"""Response bodies of the feed REST API."""

from __future__ import annotations

from pydantic import BaseModel

from feed.service import FeedPage
from shared.contract import TweetOut


class FeedResponse(BaseModel):
    tweets: list[TweetOut]
    total: int
    limit: int
    offset: int
    has_more: bool

    @classmethod
    def from_page(cls, page: FeedPage) -> FeedResponse:
        return cls(
            tweets=[TweetOut.from_reply(tweet) for tweet in page.tweets],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
            has_more=page.has_more,
        )
