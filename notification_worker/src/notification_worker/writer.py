"""Micro-batched notification writes across concurrently handled messages.

The consumer handles up to `prefetch` messages at once; each handler submits its changes and waits.
The changes submitted within `linger_seconds` of a batch's first one (or until `max_size`, or while
the previous write runs) are written together: the block/mute checks run concurrently, then ONE
transaction applies the batch in arrival order (consecutive creates in one INSERT, consecutive
removals in one DELETE). A handler returns only after its batch committed, so a message is acked
only once its notifications are in PostgreSQL, and a failed write retries every message in it (the
natural key makes the retry change nothing). New notifications are then pushed to the live stream:
best effort, since they are already stored and read by GET /notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from itertools import groupby

import redis.exceptions
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notification_worker.rules import Change, Create, Remove
from notifications.live import NOTIFICATION, LivePublisher
from notifications.repository import NewNotification, NotificationRepository, NotificationRow
from notifications.schemas import NotificationResponse
from notifications.users_client import UsersClient
from shared.db.engine import transaction
from shared.errors import DependencyUnavailable
from shared.ids import uuid7

logger = logging.getLogger(__name__)
# Block/mute lookups in flight at once for one batch.
MAX_CONCURRENT_CHECKS = 32


@dataclass
class _Pending:
    changes: list[Change]
    done: asyncio.Future[None]


@dataclass
class _Batch:
    items: list[_Pending] = field(default_factory=list)
    size: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class NotificationWriter:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        users: UsersClient,
        live: LivePublisher,
        max_size: int,
        linger_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._users = users
        self._live = live
        self._max_size = max(1, max_size)
        self._linger = max(0.0, linger_seconds)
        self._open: _Batch | None = None
        self._write_lock = asyncio.Lock()
        self._writers: set[asyncio.Task[None]] = set()

    async def submit(self, changes: list[Change]) -> None:
        """Return once the changes are committed; raise what the write of their batch raised."""
        if not changes:
            return
        batch = self._open
        if batch is None:
            batch = self._open = _Batch()
            writer = asyncio.create_task(self._write_when_ready(batch), name="notifications-write")
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        pending = _Pending(changes, asyncio.get_running_loop().create_future())
        batch.items.append(pending)
        batch.size += len(changes)
        if batch.size >= self._max_size:
            self._close(batch)
        await pending.done

    def _close(self, batch: _Batch) -> None:
        if self._open is batch:
            self._open = None
        batch.closed.set()

    async def _write_when_ready(self, batch: _Batch) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(batch.closed.wait(), self._linger)
        async with self._write_lock:
            self._close(batch)
            try:
                created = await self._write([c for item in batch.items for c in item.changes])
            except Exception as exc:
                for item in batch.items:
                    if not item.done.done():
                        item.done.set_exception(exc)
                return
            for item in batch.items:
                if not item.done.done():
                    item.done.set_result(None)
        await self._push(created)

    async def _write(self, changes: list[Change]) -> list[NotificationRow]:
        hidden = await self._hidden_pairs(changes)
        created: list[NotificationRow] = []
        async with transaction(self._sessions) as session:
            repository = NotificationRepository(session)
            for is_create, run in groupby(changes, key=lambda change: isinstance(change, Create)):
                if is_create:
                    new = [
                        _new(change)
                        for change in run
                        if isinstance(change, Create)
                        and (change.key.recipient_id, change.key.actor_id) not in hidden
                    ]
                    created += await repository.add_many(new)
                else:
                    await repository.remove_unread(
                        [change.key for change in run if isinstance(change, Remove)]
                    )
        return created

    async def _hidden_pairs(self, changes: list[Change]) -> set[tuple[uuid.UUID, uuid.UUID]]:
        """The (recipient, actor) pairs of this batch where the recipient blocks or mutes the actor
        (or is blocked by them): one lookup per distinct pair."""
        pairs = {(c.key.recipient_id, c.key.actor_id) for c in changes if isinstance(c, Create)}
        limit = asyncio.Semaphore(MAX_CONCURRENT_CHECKS)

        async def hides(pair: tuple[uuid.UUID, uuid.UUID]) -> bool:
            async with limit:
                return await self._users.hides(*pair)

        ordered = list(pairs)
        verdicts = await asyncio.gather(*(hides(pair) for pair in ordered))
        return {pair for pair, hidden in zip(ordered, verdicts, strict=True) if hidden}

    async def _push(self, rows: list[NotificationRow]) -> None:
        if not rows:
            return
        try:
            actors = await self._users.get_many(row.actor_id for row in rows)
            await self._live.publish_each(
                (
                    NOTIFICATION,
                    NotificationResponse.of(row, actors[row.actor_id]).model_dump_json(),
                    row.recipient_id,
                )
                for row in rows
                if row.actor_id in actors
            )
        except (DependencyUnavailable, redis.exceptions.RedisError, OSError) as exc:
            logger.warning("%d notifications stored but not pushed live (%s)", len(rows), exc)


def _new(change: Create) -> NewNotification:
    key = change.key
    return NewNotification(key.recipient_id, key.type, key.actor_id, key.tweet_id, change.event_id, uuid7())
