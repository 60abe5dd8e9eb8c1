"""Tables of the tweets database: tweets, replies, likes, reposts and the outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.ids import uuid7
from shared.messaging.events import Entities, Mention
from shared.messaging.outbox import outbox_table

CONTENT_MAX_LENGTH = 280


class Base(DeclarativeBase):
    pass


class Tweet(Base):
    __tablename__ = "tweets"
    __table_args__ = (
        # Ids are UUIDv7 (time ordered): (user_id, id) serves "a user's tweets, newest first" pages.
        Index("ix_tweets_user_id_id", "user_id", "id"),
        Index("ix_tweets_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    content: Mapped[str] = mapped_column(String(CONTENT_MAX_LENGTH), nullable=False)
    num_likes: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    num_replys: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    num_reposts: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    # The entities of `content` (tweets.entities), parsed when it was written. Mentions are two
    # parallel arrays: plain columns that asyncpg reads without a JSON codec on the hot paths.
    hashtags: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default="{}")
    mention_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"
    )
    mention_usernames: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default="{}")

    @property
    def entities(self) -> Entities:
        return entities_of(self)


class ReplyTweet(Base):
    __tablename__ = "reply_tweets"
    __table_args__ = (
        Index("ix_reply_tweets_parent_id_id", "parent_id", "id"),
        Index("ix_reply_tweets_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid7)
    parent_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tweets.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    content: Mapped[str] = mapped_column(String(CONTENT_MAX_LENGTH), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    # As on tweets: the entities of `content`, parsed when the reply was written.
    hashtags: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default="{}")
    mention_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"
    )
    mention_usernames: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default="{}")

    @property
    def entities(self) -> Entities:
        return entities_of(self)


class TweetMark(Base):
    """A like or a repost: one row per (user, tweet), gone with the tweet."""

    __abstract__ = True

    # The primary key is the unique (user_id, tweet_id) pair.
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tweet_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tweets.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class TweetLike(TweetMark):
    __tablename__ = "tweet_like"
    __table_args__ = (
        Index("ix_tweet_like_tweet_id", "tweet_id"),
        Index("ix_tweet_like_user_id_created_at", "user_id", "created_at"),
    )


class TweetRepost(TweetMark):
    __tablename__ = "tweet_repost"
    __table_args__ = (
        Index("ix_tweet_repost_tweet_id", "tweet_id"),
        Index("ix_tweet_repost_user_id_created_at", "user_id", "created_at"),
        # A user's reposts newest first, for a new follower's backfill (feed_worker).
        Index("ix_tweet_repost_user_id_id", "user_id", "id"),
    )

    # The repost's own UUIDv7: its feed entries are ordered by it (repost time) and named by it.
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, default=uuid7)


outbox = outbox_table(Base.metadata)


def entities_of(tweet: Any) -> Entities:
    """The entities of anything with a tweet's entity columns (an ORM tweet, a row, a TweetRow)."""
    return Entities(
        hashtags=list(tweet.hashtags or ()),
        mentions=[
            Mention(id=mention_id, username=username)
            for mention_id, username in zip(
                tweet.mention_ids or (), tweet.mention_usernames or (), strict=False
            )
        ],
    )
