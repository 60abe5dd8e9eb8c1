"""The REST bodies of the notifications service (and of the `notification` stream event)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, cast

from pydantic import BaseModel, Field

from notifications.models import NotificationType
from notifications.repository import NotificationRow
from notifications.users_client import User

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
PageLimit = Annotated[int, Field(ge=1, le=MAX_LIMIT)]


class UserResponse(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str


class NotificationResponse(BaseModel):
    id: uuid.UUID
    type: NotificationType
    actor: UserResponse
    tweet_id: uuid.UUID | None
    created_at: datetime
    read: bool

    @classmethod
    def of(cls, row: NotificationRow, actor: User) -> NotificationResponse:
        return cls(
            id=row.id,
            type=cast(NotificationType, row.type),  # the column holds only these values
            actor=UserResponse(id=actor.id, username=actor.username, display_name=actor.display_name),
            tweet_id=row.tweet_id,
            created_at=row.created_at,
            read=row.read,
        )


class NotificationPage(BaseModel):
    notifications: list[NotificationResponse]
    unread_count: int
    # The `before` of the next page; null on the last one.
    next_cursor: uuid.UUID | None


class UnreadCount(BaseModel):
    unread_count: int


class MarkRead(BaseModel):
    up_to_id: uuid.UUID = Field(description="Every notification up to this one (inclusive) is read.")


class StreamTicket(BaseModel):
    ticket: str
    expires_in: int
