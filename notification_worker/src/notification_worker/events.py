"""The events this worker reads, as the contract shapes them. Lenient on fields it does not use
(extra ones are ignored), strict on those it does: an invalid body is dead-lettered."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

# A tweet mentions at most this many accounts that get told (the rest of a spammy list is ignored).
MAX_MENTIONS = 50


class TweetActivity(BaseModel):
    """Someone (`user_id`) liked, reposted or replied to `author_id`'s tweet, or undid it."""

    event_id: uuid.UUID
    event_type: Literal["tweet.like", "tweet.unlike", "tweet.repost", "tweet.unrepost", "tweet.reply"]
    tweet_id: uuid.UUID
    author_id: uuid.UUID
    user_id: uuid.UUID
    reply_id: uuid.UUID | None = None


class Mention(BaseModel):
    id: uuid.UUID
    username: str = ""


class Entities(BaseModel):
    mentions: list[Mention] = Field(default_factory=list)


class TweetWritten(BaseModel):
    """A tweet was written or edited; its `entities.mentions` are told (once per tweet)."""

    event_id: uuid.UUID
    event_type: Literal["tweet.create", "tweet.update"]
    tweet_id: uuid.UUID
    user_id: uuid.UUID
    entities: Entities = Field(default_factory=Entities)


class FollowChange(BaseModel):
    event_id: uuid.UUID
    event_type: Literal["user.follow", "user.unfollow"]
    follower_id: uuid.UUID
    following_id: uuid.UUID
