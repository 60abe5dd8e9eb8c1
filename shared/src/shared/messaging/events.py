"""The event bodies of the contract, as pydantic models (JSON on the wire)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.ids import uuid7


def _now() -> datetime:
    return datetime.now(UTC)


class Mention(BaseModel):
    """An account a tweet names (`@username`)."""

    id: uuid.UUID
    username: str


class Entities(BaseModel):
    """What a tweet's text links to: hashtags (folded, without `#`) and mentioned accounts."""

    hashtags: list[str] = Field(default_factory=list)
    mentions: list[Mention] = Field(default_factory=list)


class TweetEvent(BaseModel):
    event_id: uuid.UUID = Field(default_factory=uuid7)
    event_type: Literal["tweet.create", "tweet.update", "tweet.delete"]
    tweet_id: uuid.UUID
    user_id: uuid.UUID
    content: str
    created_at: datetime
    # For a delete: the time of the deletion, so that it orders after every earlier version.
    updated_at: datetime
    # Parsed from `content` when it was written (empty in events published before entities existed).
    entities: Entities = Field(default_factory=Entities)


class TweetActionEvent(BaseModel):
    """Someone (`user_id`) reposted, liked or replied to `author_id`'s tweet, or took it back."""

    event_id: uuid.UUID = Field(default_factory=uuid7)
    event_type: Literal["tweet.repost", "tweet.unrepost", "tweet.like", "tweet.unlike", "tweet.reply"]
    tweet_id: uuid.UUID
    author_id: uuid.UUID
    user_id: uuid.UUID
    reply_id: uuid.UUID | None = None
    # Reposts only: the repost's own UUIDv7, made when it was posted. It orders the repost's feed
    # entries by repost time and names the entry an unrepost removes.
    repost_id: uuid.UUID | None = None
    occurred_at: datetime = Field(default_factory=_now)


class UserFollowEvent(BaseModel):
    event_id: uuid.UUID = Field(default_factory=uuid7)
    event_type: Literal["user.follow", "user.unfollow"]
    follower_id: uuid.UUID
    following_id: uuid.UUID
    occurred_at: datetime = Field(default_factory=_now)


class UserRelationEvent(BaseModel):
    """`user_id` blocked or muted `target_id` (or took it back)."""

    event_id: uuid.UUID = Field(default_factory=uuid7)
    event_type: Literal["user.block", "user.unblock", "user.mute", "user.unmute"]
    user_id: uuid.UUID
    target_id: uuid.UUID
    occurred_at: datetime = Field(default_factory=_now)


class UserProfileEvent(BaseModel):
    """An account was created, or what user search shows of it changed (name, follower count).

    `occurred_at` is taken while the account's row is locked, so it orders the events of one
    account: the user search index keeps the newest."""

    event_id: uuid.UUID = Field(default_factory=uuid7)
    event_type: Literal["user.create", "user.update"]
    user_id: uuid.UUID
    username: str
    display_name: str
    num_followers: int
    occurred_at: datetime = Field(default_factory=_now)


class UserDeleteEvent(BaseModel):
    """An account was deleted: its tweets, replies, likes and reposts are to go."""

    event_id: uuid.UUID = Field(default_factory=uuid7)
    event_type: Literal["user.delete"] = "user.delete"
    user_id: uuid.UUID
    occurred_at: datetime = Field(default_factory=_now)
