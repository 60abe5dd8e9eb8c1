"""Response bodies of the feed REST API."""

from __future__ import annotations

from pydantic import BaseModel

from feed.service import FeedPage
from shared.contract import TweetOut


class FeedResponse(BaseModel):
    """The documented shape of a page; `render` writes the same JSON without building this model."""

    tweets: list[TweetOut]
    total: int
    limit: int
    offset: int
    has_more: bool


def render(page: FeedPage) -> bytes:
    """A page as FeedResponse JSON: the tweets' cached JSON joined as they are, never re-parsed."""
    has_more = "true" if page.has_more else "false"
    return (
        f'{{"tweets":[{",".join(page.tweets)}],"total":{page.total},"limit":{page.limit},'
        f'"offset":{page.offset},"has_more":{has_more}}}'
    ).encode()
