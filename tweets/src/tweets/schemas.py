"""Request and response bodies of the tweets REST API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from shared.messaging.events import Entities
from shared.paging import Page, PageLimit, PageOffset
from shared.text import StorableText, VisibleText
from tweets.models import CONTENT_MAX_LENGTH

Content = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=CONTENT_MAX_LENGTH),
    StorableText,
    VisibleText,
]
__all__ = ["PageLimit", "PageOffset"]


class TweetResponse(BaseModel):
    """A tweet as the REST API shows it."""

    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    user_id: uuid.UUID
    content: str
    num_likes: int
    num_replys: int
    num_reposts: int
    created_at: datetime
    updated_at: datetime
    entities: Entities


class ContentRequest(BaseModel):
    """The body of POST /tweet, PATCH /tweet/{id} and POST /tweet/reply/{id}."""

    model_config = ConfigDict(extra="forbid")
    content: Content


class ReplyResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    parent_id: uuid.UUID
    user_id: uuid.UUID
    content: str
    created_at: datetime
    updated_at: datetime


class MarkResponse(BaseModel):
    """A like or a repost: who, which tweet (as it is now), and when."""

    user_id: uuid.UUID
    tweet_id: uuid.UUID
    created_at: datetime
    tweet: TweetResponse


class TweetPage(Page):
    tweets: list[TweetResponse]


class ReplyPage(Page):
    replies: list[ReplyResponse]


class LikePage(Page):
    likes: list[MarkResponse]


class RepostPage(Page):
    reposts: list[MarkResponse]
