"""Response bodies of the feed REST API (documentation: `rendering` writes the same JSON)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from shared.paging import Page


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


class FeedResponse(Page):
    """The documented shape of a page; `rendering.render_page` writes the same JSON without this model."""

    tweets: list[FeedTweet]
