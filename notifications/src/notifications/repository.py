"""Queries of the notifications database. Writes take whole batches (one statement each); a page
is one range scan of (recipient_id, id)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_NIL = "00000000-0000-0000-0000-000000000000"
# The marker of a user with none: every notification is unread.
_MARKER = f"COALESCE((SELECT up_to_id FROM read_markers WHERE user_id = {{user}}), '{_NIL}'::uuid)"

_INSERT = text(
    "INSERT INTO notifications (id, recipient_id, type, actor_id, tweet_id, event_id)"
    " SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:recipients AS uuid[]), CAST(:types AS text[]),"
    " CAST(:actors AS uuid[]), CAST(:tweets AS uuid[]), CAST(:events AS uuid[]))"
    " ON CONFLICT DO NOTHING"
    " RETURNING id, recipient_id, type, actor_id, tweet_id, created_at"
)
# Only unread ones go: a notification the user has read stays in their history.
_DELETE_UNREAD = text(
    "DELETE FROM notifications n USING unnest(CAST(:recipients AS uuid[]), CAST(:types AS text[]),"
    " CAST(:actors AS uuid[]), CAST(:tweets AS uuid[])) AS d(recipient_id, type, actor_id, tweet_id)"
    " WHERE n.recipient_id = d.recipient_id AND n.type = d.type AND n.actor_id = d.actor_id"
    " AND n.tweet_id IS NOT DISTINCT FROM d.tweet_id"
    f" AND n.id > {_MARKER.format(user='n.recipient_id')}"
    " RETURNING n.id, n.recipient_id"
)
_PAGE = (
    "SELECT n.id, n.type, n.actor_id, n.tweet_id, n.created_at,"
    f" n.id <= {_MARKER.format(user=':user_id')} AS read"
    " FROM notifications n WHERE n.recipient_id = :user_id{before}{types}"
    " ORDER BY n.id DESC LIMIT :limit"
)
_UNREAD_COUNT = text(
    "SELECT count(*) FROM notifications"
    f" WHERE recipient_id = :user_id AND id > {_MARKER.format(user=':user_id')}"
)
# The marker moves to the newest of the user's notifications at or before up_to_id, never back, and
# never past a notification that exists: an id from the future cannot mark tomorrow's ones read.
_MARK_READ = text(
    "INSERT INTO read_markers (user_id, up_to_id)"
    " SELECT recipient_id, id FROM notifications WHERE recipient_id = :user_id AND id <= :up_to_id"
    " ORDER BY id DESC LIMIT 1"
    " ON CONFLICT (user_id) DO UPDATE SET"
    " up_to_id = GREATEST(read_markers.up_to_id, EXCLUDED.up_to_id), updated_at = now()"
)


@dataclass(frozen=True)
class NewNotification:
    recipient_id: uuid.UUID
    type: str
    actor_id: uuid.UUID
    tweet_id: uuid.UUID | None
    event_id: uuid.UUID
    id: uuid.UUID


@dataclass(frozen=True)
class NotificationKey:
    """What an undo (unlike, unrepost, unfollow) names: the natural key of its notification."""

    recipient_id: uuid.UUID
    type: str
    actor_id: uuid.UUID
    tweet_id: uuid.UUID | None


@dataclass(frozen=True)
class NotificationRow:
    id: uuid.UUID
    recipient_id: uuid.UUID
    type: str
    actor_id: uuid.UUID
    tweet_id: uuid.UUID | None
    created_at: datetime
    read: bool = False


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_many(self, items: Sequence[NewNotification]) -> list[NotificationRow]:
        """Insert in one statement; returns the rows made (an existing natural key makes none)."""
        if not items:
            return []
        result = await self.session.execute(
            _INSERT,
            {
                "ids": [item.id for item in items],
                "recipients": [item.recipient_id for item in items],
                "types": [item.type for item in items],
                "actors": [item.actor_id for item in items],
                "tweets": [item.tweet_id for item in items],
                "events": [item.event_id for item in items],
            },
        )
        return [NotificationRow(*row) for row in result.all()]

    async def remove_unread(self, keys: Sequence[NotificationKey]) -> int:
        """Delete the unread notifications with these natural keys; returns how many went."""
        if not keys:
            return 0
        result = await self.session.execute(
            _DELETE_UNREAD,
            {
                "recipients": [key.recipient_id for key in keys],
                "types": [key.type for key in keys],
                "actors": [key.actor_id for key in keys],
                "tweets": [key.tweet_id for key in keys],
            },
        )
        return len(result.all())

    async def page(
        self, user_id: uuid.UUID, limit: int, before: uuid.UUID | None, types: Sequence[str] | None
    ) -> list[NotificationRow]:
        """Up to `limit` notifications older than `before`, newest first, with their read state."""
        params: dict[str, object] = {"user_id": user_id, "limit": limit}
        if before is not None:
            params["before"] = before
        if types is not None:
            params["types"] = list(types)
        sql = _PAGE.format(
            before=" AND n.id < :before" if before is not None else "",
            types=" AND n.type = ANY(CAST(:types AS text[]))" if types is not None else "",
        )
        result = await self.session.execute(text(sql), params)
        return [
            NotificationRow(row.id, user_id, row.type, row.actor_id, row.tweet_id, row.created_at, row.read)
            for row in result
        ]

    async def unread_count(self, user_id: uuid.UUID) -> int:
        return int((await self.session.execute(_UNREAD_COUNT, {"user_id": user_id})).scalar_one())

    async def mark_read(self, user_id: uuid.UUID, up_to_id: uuid.UUID) -> None:
        await self.session.execute(_MARK_READ, {"user_id": user_id, "up_to_id": up_to_id})
