"""Reading notifications (REST and gRPC): pages with their actors, the unread count, the marker."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from notifications.models import NOTIFICATION_TYPES
from notifications.repository import NotificationRepository
from notifications.schemas import MAX_LIMIT, NotificationPage, NotificationResponse
from notifications.users_client import UsersClient
from shared.errors import InvalidInput


def parse_types(value: str | None) -> list[str] | None:
    """`like,follow` as a list; None (every type) when absent; InvalidInput for an unknown type."""
    if value is None:
        return None
    types = [part.strip() for part in value.split(",") if part.strip()]
    unknown = sorted(set(types) - NOTIFICATION_TYPES)
    if unknown or not types:
        known = ", ".join(sorted(NOTIFICATION_TYPES))
        raise InvalidInput(
            f"unknown notification type {', '.join(unknown) or '(none)'}; known: {known}", field="types"
        )
    return list(dict.fromkeys(types))


@dataclass(frozen=True)
class PageRequest:
    user_id: uuid.UUID
    limit: int
    before: uuid.UUID | None = None
    types: Sequence[str] | None = None


class NotificationService:
    def __init__(self, repository: NotificationRepository, users: UsersClient) -> None:
        self._repository = repository
        self._users = users

    async def page(self, request: PageRequest) -> NotificationPage:
        if not 1 <= request.limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
        # One more than asked: whether there is a next page, without a count.
        rows = await self._repository.page(request.user_id, request.limit + 1, request.before, request.types)
        more = len(rows) > request.limit
        rows = rows[: request.limit]
        actors = await self._users.get_many(row.actor_id for row in rows)
        return NotificationPage(
            # A notification from an account deleted since is left out (its actor is gone).
            notifications=[
                NotificationResponse.of(row, actors[row.actor_id]) for row in rows if row.actor_id in actors
            ],
            unread_count=await self._repository.unread_count(request.user_id),
            next_cursor=rows[-1].id if more else None,
        )

    async def unread_count(self, user_id: uuid.UUID) -> int:
        return await self._repository.unread_count(user_id)

    async def mark_read(self, user_id: uuid.UUID, up_to_id: uuid.UUID) -> None:
        await self._repository.mark_read(user_id, up_to_id)
