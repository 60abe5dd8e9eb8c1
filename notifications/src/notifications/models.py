"""Tables of the notifications database: the notifications and each user's read marker."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final, Literal, get_args

from sqlalchemy import DateTime, Index, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.ids import uuid7

NotificationType = Literal["follow", "like", "repost", "reply", "mention"]
NOTIFICATION_TYPES: Final = frozenset(get_args(NotificationType))


class Base(DeclarativeBase):
    pass


class Notification(Base):
    """`actor_id` did something (`type`) that concerns `recipient_id`, about `tweet_id` if any:
    the liked or reposted tweet, the reply itself, the tweet that mentions."""

    __tablename__ = "notifications"
    __table_args__ = (
        # A page is one range scan of this index, newest first (ids are UUIDv7: time order).
        Index("ix_notifications_recipient_id_id", "recipient_id", "id"),
        # The natural key: a redelivered event, or the same like twice, makes no second row; an
        # unlike finds the row to remove by it.
        Index(
            "uq_notifications_natural_key",
            "recipient_id",
            "type",
            "actor_id",
            "tweet_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid7)
    recipient_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    tweet_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    # The event that made it (for tracing a notification back to its message).
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class ReadMarker(Base):
    """Every notification of the user with an id up to `up_to_id` is read: marking 10,000 read
    is one row written, and "unread" is one range of the index above."""

    __tablename__ = "read_markers"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    up_to_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
