"""Blocks and mutes: who hides whom, their events, and the checks other services ask for.

A block removes the follows both ways (each with its user.unfollow event, so feed_worker cleans the
feeds as for any unfollow) and keeps the blocked account from following the blocker again; tweets
asks `IsBlocked` before a reply, like or repost. A mute changes nothing but the muter's feed reads.
"""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy import delete, func, select, union
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import BadRequest, Conflict, NotFound
from shared.messaging.events import UserRelationEvent
from shared.messaging.outbox import RABBITMQ, OutboxMessage, enqueue
from shared.messaging.topology import USER_BLOCK, USER_EVENTS, USER_MUTE, USER_UNBLOCK, USER_UNMUTE
from users.models import Block, Mute, User, UserRelation
from users.service import UserService

# The most accounts a feed read filters out: blocks both ways and mutes (a bounded answer).
MAX_HIDDEN = 10_000

_EVENTS: dict[type[UserRelation], tuple[str, str]] = {
    Block: (USER_BLOCK, USER_UNBLOCK),
    Mute: (USER_MUTE, USER_UNMUTE),
}
_NAME: dict[type[UserRelation], str] = {Block: "blocked", Mute: "muted"}
Kind = Literal["block", "mute"]
MODELS: dict[Kind, type[UserRelation]] = {"block": Block, "mute": Mute}


class RelationService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.users = UserService(session)

    async def add(self, model: type[UserRelation], user_id: uuid.UUID, target_id: uuid.UUID) -> None:
        """Block (or mute) `target_id`: 400 for oneself, 404 unknown, 409 the second time."""
        if user_id == target_id:
            raise BadRequest(f"you cannot {'block' if model is Block else 'mute'} yourself")
        await self.users.get(target_id)
        if model is Block:
            # A follow of the same pair (either way) committing meanwhile is then seen and removed.
            await self.users.users.lock_pair(user_id, target_id)
        inserted = (
            await self.session.execute(
                pg_insert(model)
                .values(user_id=user_id, target_id=target_id)
                .on_conflict_do_nothing()
                .returning(model.user_id)
            )
        ).first()
        if inserted is None:
            raise Conflict(f"already {_NAME[model]}")
        await self._announce(_EVENTS[model][0], user_id, target_id)
        if model is Block:
            for follower, followed in ((user_id, target_id), (target_id, user_id)):
                followed_profile = await self.users.users.remove_follow(follower, followed)
                if followed_profile is not None:
                    await self.users.announce_unfollow(follower, followed, followed_profile)

    async def remove(self, model: type[UserRelation], user_id: uuid.UUID, target_id: uuid.UUID) -> None:
        deleted = (
            await self.session.execute(
                delete(model)
                .where(model.user_id == user_id, model.target_id == target_id)
                .returning(model.user_id)
            )
        ).first()
        if deleted is None:
            raise NotFound(f"you have not {_NAME[model]} this user")
        await self._announce(_EVENTS[model][1], user_id, target_id)

    async def listed(
        self, model: type[UserRelation], user_id: uuid.UUID, limit: int, offset: int
    ) -> tuple[list[User], int]:
        """The accounts `user_id` blocks (or mutes), most recent first."""
        condition = model.user_id == user_id
        total = (
            await self.session.execute(select(func.count()).select_from(model).where(condition))
        ).scalar_one()
        rows = await self.session.execute(
            select(User)
            .join(model, model.target_id == User.id)
            .where(condition)
            .order_by(model.created_at.desc(), User.id)
            .limit(limit)
            .offset(offset)
        )
        return list(rows.scalars()), int(total)

    async def is_blocked(self, user_id: uuid.UUID, other_id: uuid.UUID) -> bool:
        """Whether either blocks the other."""
        return await self.users.users.either_blocks(user_id, other_id)

    async def hidden(self, user_id: uuid.UUID, *, blocks_only: bool = False) -> list[uuid.UUID]:
        """Whom `user_id` blocks or mutes, and who blocks `user_id` (at most MAX_HIDDEN)."""
        parts = [
            select(Block.target_id).where(Block.user_id == user_id),
            select(Block.user_id).where(Block.target_id == user_id),
        ]
        if not blocks_only:
            parts.append(select(Mute.target_id).where(Mute.user_id == user_id))
        query = union(*parts).limit(MAX_HIDDEN)
        return list((await self.session.execute(query)).scalars())

    async def _announce(self, event_type: str, user_id: uuid.UUID, target_id: uuid.UUID) -> None:
        event = UserRelationEvent(event_type=event_type, user_id=user_id, target_id=target_id)
        await enqueue(
            self.session,
            OutboxMessage(
                RABBITMQ,
                event.model_dump(mode="json"),
                message_id=str(event.event_id),
                exchange=USER_EVENTS,
                routing_key=event_type,
            ),
        )
