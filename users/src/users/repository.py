"""Queries of the users database; counters change in single UPDATE statements (atomic)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.telemetry import tracer
from users.models import Actor, Follow

_tracer = tracer(__name__)

_INCREMENT = text(
    "UPDATE actors SET num_tweets = greatest(num_tweets + :delta, 0) WHERE id = :user_id RETURNING num_tweets"
)
# The main SELECT sees the row as it was before the CTE's UPDATE: `current` is the count when the
# key was already applied (nothing changed), `changed` the new count otherwise.
_INCREMENT_ONCE = text(
    "WITH applied AS ("
    " INSERT INTO applied_increments (key) VALUES (:key) ON CONFLICT DO NOTHING RETURNING key"
    "), changed AS ("
    " UPDATE actors SET num_tweets = greatest(num_tweets + :delta, 0)"
    " WHERE id = :user_id AND EXISTS (SELECT 1 FROM applied) RETURNING num_tweets"
    ") SELECT (SELECT num_tweets FROM changed) AS changed,"
    " (SELECT num_tweets FROM actors WHERE id = :user_id) AS current"
)


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, email: str, username: str, password_hash: str) -> Actor:
        actor = Actor(email=email, username=username, password_hash=password_hash, display_name=username)
        self.session.add(actor)
        await self.session.flush()
        await self.session.refresh(actor)
        return actor

    async def email_or_username_taken(self, email: str, username: str) -> str | None:
        """Which of the two is already used (case-insensitively), if any."""
        row = (
            await self.session.execute(
                select(
                    func.lower(Actor.email) == email.lower(), func.lower(Actor.username) == username.lower()
                )
                .where(
                    (func.lower(Actor.email) == email.lower())
                    | (func.lower(Actor.username) == username.lower())
                )
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        return "email" if row[0] else "username"

    async def get(self, user_id: uuid.UUID) -> Actor | None:
        return await self.session.get(Actor, user_id)

    async def get_many(self, user_ids: Sequence[uuid.UUID]) -> list[Actor]:
        if not user_ids:
            return []
        return list((await self.session.execute(select(Actor).where(Actor.id.in_(user_ids)))).scalars())

    async def find_by_login(self, identifier: str) -> Actor | None:
        lowered = identifier.lower()
        column = func.lower(Actor.email) if "@" in identifier else func.lower(Actor.username)
        return (await self.session.execute(select(Actor).where(column == lowered))).scalar_one_or_none()

    async def update_profile(self, user_id: uuid.UUID, changes: dict[str, str]) -> Actor | None:
        if changes:
            await self.session.execute(
                update(Actor).where(Actor.id == user_id).values(**changes, updated_at=func.now())
            )
        actor = await self.get(user_id)
        if actor is not None:
            await self.session.refresh(actor)
        return actor

    async def add_follow(self, follower_id: uuid.UUID, following_id: uuid.UUID) -> bool:
        """Insert the edge and bump both counters; False if it existed already."""
        inserted = (
            await self.session.execute(
                pg_insert(Follow)
                .values(follower_id=follower_id, following_id=following_id)
                .on_conflict_do_nothing()
                .returning(Follow.follower_id)
            )
        ).first()
        if inserted is None:
            return False
        await self._shift_follow_counters(follower_id, following_id, +1)
        return True

    async def remove_follow(self, follower_id: uuid.UUID, following_id: uuid.UUID) -> bool:
        deleted = (
            await self.session.execute(
                delete(Follow)
                .where(Follow.follower_id == follower_id, Follow.following_id == following_id)
                .returning(Follow.follower_id)
            )
        ).first()
        if deleted is None:
            return False
        await self._shift_follow_counters(follower_id, following_id, -1)
        return True

    async def _shift_follow_counters(
        self, follower_id: uuid.UUID, following_id: uuid.UUID, delta: int
    ) -> None:
        # Rows are locked in id order so that A-follows-B and B-follows-A never deadlock.
        changes = {
            follower_id: {"num_following": Actor.num_following + delta},
            following_id: {"num_followers": Actor.num_followers + delta},
        }
        for user_id in sorted(changes):
            await self.session.execute(update(Actor).where(Actor.id == user_id).values(**changes[user_id]))

    async def is_following(self, follower_id: uuid.UUID, following_id: uuid.UUID) -> bool:
        found = await self.session.get(Follow, (follower_id, following_id))
        return found is not None

    async def list_followers(self, user_id: uuid.UUID, limit: int, offset: int) -> tuple[list[Actor], int]:
        return await self._list_edge(Follow.following_id, Follow.follower_id, user_id, limit, offset)

    async def list_following(self, user_id: uuid.UUID, limit: int, offset: int) -> tuple[list[Actor], int]:
        return await self._list_edge(Follow.follower_id, Follow.following_id, user_id, limit, offset)

    async def _list_edge(
        self,
        match_column: InstrumentedAttribute[uuid.UUID],
        other_column: InstrumentedAttribute[uuid.UUID],
        user_id: uuid.UUID,
        limit: int,
        offset: int,
    ) -> tuple[list[Actor], int]:
        total = (await self.session.execute(select(func.count()).where(match_column == user_id))).scalar_one()
        actors = (
            await self.session.execute(
                select(Actor)
                .join(Follow, other_column == Actor.id)
                .where(match_column == user_id)
                .order_by(Follow.created_at.desc(), other_column)
                .limit(limit)
                .offset(offset)
            )
        ).scalars()
        return list(actors), int(total)

    async def follower_ids_after(self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[str]:
        """A keyset page of follower ids in id order (index-only scan on (following_id, follower_id)).

        Ids come back as text: a page can hold 10,000 of them, and they go straight into protobuf.
        """
        return await self._edge_ids(Follow.following_id, Follow.follower_id, user_id, after, limit)

    async def following_ids_after(self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[str]:
        return await self._edge_ids(Follow.follower_id, Follow.following_id, user_id, after, limit)

    async def _edge_ids(
        self,
        match_column: InstrumentedAttribute[uuid.UUID],
        other_column: InstrumentedAttribute[uuid.UUID],
        user_id: uuid.UUID,
        after: uuid.UUID | None,
        limit: int,
    ) -> list[str]:
        # Straight through asyncpg: every fan-out reads all of an author's followers, and the ORM
        # session's per-row result handling cost ~10x the query itself on a 10,000-id page.
        match, other = match_column.key, other_column.key
        sql = f"SELECT {other}::text FROM follows WHERE {match} = $1"
        args: list[object] = [user_id]
        if after is not None:
            sql += f" AND {other} > $2"
            args.append(after)
        sql += f" ORDER BY {other} LIMIT ${len(args) + 1}"
        connection = await (await self.session.connection()).get_raw_connection()
        with _tracer.start_as_current_span("SELECT follows", kind=trace.SpanKind.CLIENT) as span:
            span.set_attribute("db.system", "postgresql")
            span.set_attribute("db.statement", sql)
            driver: Any = connection.driver_connection  # asyncpg.Connection
            rows = await driver.fetch(sql, *args, limit)
        return [row[0] for row in rows]

    async def increment_tweets(self, user_id: uuid.UUID, delta: int, idempotency_key: str) -> int | None:
        """Apply delta once per key (never below zero); None if the user does not exist.

        One statement (the counter relay calls this for every tweet): record the key, move the
        counter only if the key was new, and return the count either way."""
        if not idempotency_key:
            return (
                await self.session.execute(_INCREMENT, {"user_id": user_id, "delta": delta})
            ).scalar_one_or_none()
        row = (
            await self.session.execute(
                _INCREMENT_ONCE, {"user_id": user_id, "delta": delta, "key": idempotency_key}
            )
        ).one()
        return row.changed if row.changed is not None else row.current
