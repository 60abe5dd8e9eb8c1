"""Transactional outbox: a message is written in the same transaction as the change it announces,
then a relay (shared.messaging.relay) delivers it and marks it sent, so a committed change never
goes without its message.

This module is the writing side: the table, the messages, the statements that add them beside a
change, and the NOTIFY that wakes the relays on commit (on the hottest write path at most one per
few milliseconds per process, see RelayWaker).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import asyncpg
import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from shared.telemetry import inject_context

logger = logging.getLogger(__name__)
NOTIFY_CHANNEL = "outbox"
RABBITMQ = "rabbitmq"


def outbox_columns() -> list[Column[Any]]:
    """The outbox table's columns (fresh objects: used by the model and by migrations)."""
    return [
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("destination", String(64), nullable=False),
        Column("exchange", String(128), nullable=False, server_default=""),
        Column("routing_key", String(128), nullable=False, server_default=""),
        Column("message_id", String(64), nullable=False),
        Column("payload", JSONB, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text, nullable=True),
        Column("published_at", DateTime(timezone=True), nullable=True),
        # Set (with last_error) when the row failed alone for a reason retrying cannot cure: the
        # relay skips it from then on (a dead letter, counted in /ready; clear it to retry).
        Column("parked_at", DateTime(timezone=True), nullable=True),
    ]


PENDING_INDEX = "ix_outbox_pending"


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        *outbox_columns(),
        Index(PENDING_INDEX, "destination", "id", postgresql_where=text("published_at IS NULL")),
    )


@dataclass(frozen=True)
class OutboxRecord:
    id: int
    destination: str
    exchange: str
    routing_key: str
    message_id: str
    body: bytes  # the payload as stored (JSON): published as it is, never re-encoded
    headers: dict[str, Any]
    attempts: int

    @cached_property
    def payload(self) -> dict[str, Any]:
        """The payload decoded, for the deliverers that read it (not the RabbitMQ one)."""
        value: dict[str, Any] = orjson.loads(self.body)
        return value


@dataclass(frozen=True)
class OutboxMessage:
    """A message to write to the outbox beside the change it announces."""

    destination: str
    payload: dict[str, Any]
    message_id: str
    exchange: str = ""
    routing_key: str = ""


def _queue_messages(first: int, notify: bool = True) -> str:
    """The outbox rows of a statement's messages (parameters $first..$first+5, from
    `message_params`) and, with `notify`, the one NOTIFY that wakes their relays when it commits
    (its payload names their destinations, comma-separated)."""
    arrays = ", ".join(f"${first + offset}::text[]" for offset in range(5))
    woken = (
        f"pg_notify('{NOTIFY_CHANNEL}', string_agg(DISTINCT destination, ',' ORDER BY destination))"
        if notify
        else "count(*)"
    )
    return (
        "queued AS ("
        " INSERT INTO outbox (destination, exchange, routing_key, message_id, payload, headers)"
        f" SELECT destination, exchange, routing_key, message_id, payload::jsonb, ${first + 5}::jsonb"
        f" FROM unnest({arrays}) WITH ORDINALITY"
        " AS message(destination, exchange, routing_key, message_id, payload, position)"
        " ORDER BY position RETURNING destination"
        f") SELECT {woken} FROM queued HAVING count(*) > 0"
    )


def with_messages(change_sql: str, change_params: int, *, notify: bool = True) -> str:
    """One statement: a data-modifying `change_sql` (parameters $1..$change_params), then the outbox
    rows of its messages and (unless `notify` is False: see RelayWaker) the NOTIFY that wakes
    their relays.

    A single statement is atomic on its own, so run outside a transaction it commits the change and
    its messages together in one round trip (no BEGIN/COMMIT). Its remaining parameters come from
    `message_params`.
    """
    return f"WITH change AS ({change_sql}), {_queue_messages(change_params + 1, notify)}"


def message_params(messages: Sequence[OutboxMessage]) -> tuple[Any, ...]:
    """The parameters `with_messages` adds after the change's own; every message carries the
    current trace context."""
    return (
        [message.destination for message in messages],
        [message.exchange for message in messages],
        [message.routing_key for message in messages],
        [message.message_id for message in messages],
        [orjson.dumps(message.payload).decode() for message in messages],
        orjson.dumps(inject_context()).decode(),
    )


_ENQUEUE = f"WITH {_queue_messages(1)}"


async def enqueue(session: AsyncSession, *messages: OutboxMessage) -> None:
    """Add messages to the outbox in the session's transaction (one statement, the same rows as
    `with_messages` writes); their relays are notified on commit."""
    connection = await session.connection()
    await connection.exec_driver_sql(_ENQUEUE, message_params(messages))


class RelayWaker:
    """Wakes the relays after the statements of one hot write path (`with_messages`), with at most
    one NOTIFY per `window_seconds` from this process.

    PostgreSQL serialises every committing transaction that sent a NOTIFY on one lock, and wakes
    every listener for each: under a burst of writes a NOTIFY per statement cost more than the
    insert it announced (bench/FINDINGS.md). So the first write after a quiet window carries its
    NOTIFY in its own statement (no delay when writes are sparse); later writes within the window
    are written without one, and share one NOTIFY sent when the window ends — after they
    committed, so the relay that it wakes sees them. A lost NOTIFY (a crash, PostgreSQL down) costs
    latency only: the relays also poll.
    """

    def __init__(self, pool: asyncpg.Pool, window_seconds: float = 0.005) -> None:
        self._pool = pool
        self._window = window_seconds
        self._quiet_until = 0.0
        self._pending: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def notify_inline(self) -> bool:
        """Whether the statement about to run should carry its own NOTIFY."""
        now = asyncio.get_running_loop().time()
        if now < self._quiet_until:
            return False
        self._quiet_until = now + self._window
        return True

    def committed_quietly(self, destinations: Sequence[str]) -> None:
        """A statement run without its NOTIFY has committed: wake these destinations' relays at
        the end of the window."""
        self._pending.update(destinations)
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(max(self._quiet_until, loop.time()), self._send_pending)

    def _send_pending(self) -> None:
        self._timer = None
        payload = ",".join(sorted(self._pending))
        self._pending.clear()
        self._quiet_until = asyncio.get_running_loop().time() + self._window
        task = asyncio.create_task(self._notify(payload))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _notify(self, payload: str) -> None:
        try:
            async with self._pool.acquire(timeout=5) as connection:
                await connection.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, payload)
        except Exception as exc:
            logger.info(
                "outbox: NOTIFY %s failed (%r); the relays will find the rows when they poll", payload, exc
            )

    async def close(self) -> None:
        """Send what is pending now (before the pool closes)."""
        if self._timer is not None:
            self._timer.cancel()
            self._send_pending()
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
