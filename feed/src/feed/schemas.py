"""Response bodies of the feed REST API (documentation: `rendering` writes the same JSON)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from shared.messaging.events import Entities
from shared.paging import Page


class Author(BaseModel):
    id: uuid.UUID
    username: str | None
    display_name: str | None


class Reposter(BaseModel):
    id: uuid.UUID
    username: str | None


class FeedTweet(BaseModel):
    """A tweet as a feed item."""

    id: uuid.UUID
    user_id: uuid.UUID
    content: str
    num_likes: int
    num_replys: int
    num_reposts: int
    created_at: datetime
    updated_at: datetime
    author: Author
    liked_by_me: bool
    reposted_by_me: bool
    reposted_by: Reposter | None
    entities: Entities


class FeedResponse(Page):
    """The documented shape of a page; `rendering.render_page` writes the same JSON without this model."""

    tweets: list[FeedTweet]
