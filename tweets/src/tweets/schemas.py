"""Request and response bodies of the tweets REST API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from feed.schemas import Author
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
    entities: Entities


class ViewerState(BaseModel):
    """The contract's "Timeline items" fields of a tweet object served on a read."""

    author: Author
    liked_by_me: bool = Field(description="false when the request has no token")
    reposted_by_me: bool = Field(description="false when the request has no token")


class TweetItem(ViewerState, TweetResponse):
    """A tweet as the REST reads show it: with its author and the caller's like/repost state."""


class ReplyItem(ViewerState, ReplyResponse):
    """A reply as the replies list shows it (a reply cannot be liked or reposted: both false)."""


class MarkItem(BaseModel):
    """A like or a repost: who, which tweet (as an item, as it is now), and when; the answer to
    POST /tweet/like|repost/{id} and an entry of the caller's lists."""

    user_id: uuid.UUID
    tweet_id: uuid.UUID
    created_at: datetime
    tweet: TweetItem


class TweetPage(Page):
    tweets: list[TweetItem]


class ReplyPage(Page):
    replies: list[ReplyItem]


class LikePage(Page):
    likes: list[MarkItem]


class RepostPage(Page):
    reposts: list[MarkItem]
