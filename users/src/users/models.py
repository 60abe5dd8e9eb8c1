"""Tables of the users database: actors, follows, blocks, mutes, applied counter increments and the outbox."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.ids import uuid7
from shared.messaging.outbox import outbox_table


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "actors"
    __table_args__ = (
        # One account per folded email (shared.text.fold: NFKC + case folding, computed in Python
        # only), so "İvan@x" and "i̇van@x" are one address; usernames are ASCII, lower() suffices.
        Index("uq_actors_email_key", "email_key", unique=True),
        Index("uq_actors_username_lower", func.lower("username"), unique=True),
        Index("ix_actors_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid7)
    email: Mapped[str] = mapped_column(String(254), nullable=False)  # as entered, shown to its owner
    email_key: Mapped[str] = mapped_column(Text, nullable=False)  # fold(email): what is compared
    username: Mapped[str] = mapped_column(String(32), nullable=False)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    display_name: Mapped[str] = mapped_column(String(64), nullable=False, server_default="")
    bio: Mapped[str] = mapped_column(String(280), nullable=False, server_default="")
    num_tweets: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    num_followers: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    num_following: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )


class Follow(Base):
    __tablename__ = "follows"
    __table_args__ = (
        Index("ix_follows_follower_id", "follower_id"),
        # (following_id, follower_id) serves GetFollowers pages as an index-only scan.
        Index("ix_follows_following_id", "following_id", "follower_id"),
        Index("ix_follows_created_at", "created_at"),
    )

    # The primary key is the unique (follower_id, following_id) pair.
    follower_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("actors.id", ondelete="CASCADE"), primary_key=True
    )
    following_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("actors.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class UserRelation(Base):
    """A one-way relation between two accounts (a block or a mute): one row per pair."""

    __abstract__ = True

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("actors.id", ondelete="CASCADE"), primary_key=True
    )
    target_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("actors.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class Block(UserRelation):
    """`user_id` blocks `target_id`."""

    __tablename__ = "blocks"
    # (target_id, user_id): "who blocks me" for the feed's hidden set and the block check.
    __table_args__ = (Index("ix_blocks_target_id", "target_id", "user_id"),)


class Mute(UserRelation):
    """`user_id` mutes `target_id`."""

    __tablename__ = "mutes"
    __table_args__ = (Index("ix_mutes_target_id", "target_id", "user_id"),)


class AppliedIncrement(Base):
    """Idempotency keys of IncrementTweets calls already applied (retries change nothing)."""

    __tablename__ = "applied_increments"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


outbox = outbox_table(Base.metadata)
