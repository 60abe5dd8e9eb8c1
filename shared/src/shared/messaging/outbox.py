"""Transactional outbox: a message is written in the same transaction as the change it announces,
then a relay delivers it and marks it sent, so a committed change never goes without its message.

The relay is woken by NOTIFY (sent on commit; on the hottest write path at most one per few
milliseconds per process, see RelayWaker), falls back to a slow poll, and keeps retrying while
its destination (RabbitMQ, another service) is down. Every process of a service (workers, replicas)
runs the relays, but only one delivers a destination at a time: the one whose LISTEN connection
holds that destination's advisory lock, so rows go out in id order; the others stand by and take
over when its connection goes. Delivery is at-least-once: consumers are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from opentelemetry import trace
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

from shared.messaging.publisher import RabbitPublisher
from shared.telemetry import extract_context, inject_context, spans_exported, tracer

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
    payload: dict[str, Any]
    headers: dict[str, Any]
    attempts: int


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


Deliver = Callable[[Sequence[OutboxRecord]], Awaitable[None]]

# The relay's statements run straight on asyncpg: at a high write rate the relay passes are many
# and small, and the ORM engine's per-statement cost was most of the relay's CPU.
# No row locks: only the relay holding the destination's lock reads its rows, and a batch read
# twice (a lock lost mid-batch) is only delivered twice, which consumers are built for.
_CLAIM = (
    "SELECT id, destination, exchange, routing_key, message_id, payload::text, headers::text, attempts"
    " FROM outbox WHERE destination = $1 AND published_at IS NULL ORDER BY id LIMIT $2"
)
_MARK_SENT = "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1::bigint[])"
_MARK_FAILED = "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::bigint[])"
_PURGE_SENT = (
    "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => $1)"
)


class OutboxRelay:
    """Delivers one destination's pending outbox rows, in id order, until stopped."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        listen_dsn: str,
        destination: str,
        deliver: Deliver,
        *,
        batch_size: int = 200,
        poll_seconds: float = 2.0,
        keep_sent_seconds: float = 24 * 3600,
    ) -> None:
        self._pool = pool
        self._listen_dsn = listen_dsn
        self.destination = destination
        self._deliver = deliver
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._keep_sent_seconds = keep_sent_seconds
        self._wake = asyncio.Event()
        # Why the last delivery failed; None once one succeeds.
        self.last_error: str | None = None
        # True while this process holds the destination's lock (the relay delivering it).
        self.leading = False

    @property
    def background_name(self) -> str:
        return f"outbox.{self.destination}"

    def state(self) -> str:
        """For /ready: "standby" (another process delivers), "delivering", or "retrying: <why>"."""
        if not self.leading:
            return "standby"
        return "delivering" if self.last_error is None else f"retrying: {self.last_error}"

    async def relay_once(self) -> int:
        """Deliver one batch; returns how many rows were sent. Raises if delivery failed."""
        async with self._pool.acquire(timeout=5) as connection:
            rows = await connection.fetch(_CLAIM, self.destination, self._batch_size)
            if not rows:
                return 0
            records = [
                OutboxRecord(
                    id=row[0],
                    destination=row[1],
                    exchange=row[2],
                    routing_key=row[3],
                    message_id=row[4],
                    payload=orjson.loads(row[5]),
                    headers=orjson.loads(row[6]),
                    attempts=row[7],
                )
                for row in rows
            ]
            ids = [record.id for record in records]
            failure: Exception | None = None
            try:
                await self._deliver(records)
            except Exception as exc:
                failure = exc
                await connection.execute(_MARK_FAILED, ids, repr(exc)[:500])
            else:
                await connection.execute(_MARK_SENT, ids)
        if failure is not None:
            raise failure
        return len(records)

    async def run(self, stop: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen(stop), name=f"outbox-listen-{self.destination}")
        failures = 0
        passes = 0
        try:
            while not stop.is_set():
                # Cleared before the claim, not after: a NOTIFY arriving while a batch is in flight
                # must wake the next pass instead of waiting for the poll.
                self._wake.clear()
                if not self.leading:
                    await _wait_any(stop, self._wake, self._poll_seconds)
                    continue
                try:
                    sent = await self.relay_once()
                    failures = 0
                    self.last_error = None
                except Exception as exc:
                    failures += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"[:200]
                    delay = min(5.0, 0.1 * 2**failures)
                    logger.warning(
                        "outbox %s: delivery failed (%r); retrying in %.1fs", self.destination, exc, delay
                    )
                    await _wait(stop, delay)
                    continue
                if sent >= self._batch_size:
                    continue  # more are waiting
                passes += 1
                if passes % 500 == 0:
                    await self._purge_sent()
                await _wait_any(stop, self._wake, self._poll_seconds)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _purge_sent(self) -> None:
        try:
            async with self._pool.acquire(timeout=5) as connection:
                await connection.execute(_PURGE_SENT, float(self._keep_sent_seconds))
        except Exception:
            logger.warning("outbox %s: purge of sent rows failed", self.destination, exc_info=True)

    async def _listen(self, stop: asyncio.Event) -> None:
        """Hold the destination's lock on a connection of its own, and LISTEN on it: each NOTIFY
        for this destination wakes the relay."""

        def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            if self.destination in payload.split(","):
                self._wake.set()

        while not stop.is_set():
            connection = None
            try:
                connection = await asyncpg.connect(
                    self._listen_dsn, timeout=5, server_settings=_DEAD_PEER_DETECTION
                )
                # A standby only asks for the lock now and then; it listens once it leads.
                while not stop.is_set() and not await connection.fetchval(_TAKE_LEAD, self._lock_name):
                    await _wait(stop, STANDBY_SECONDS)
                await connection.add_listener(NOTIFY_CHANNEL, on_notify)
                self.leading = True
                self._wake.set()  # catch up on anything committed while not listening
                while not stop.is_set() and not connection.is_closed():
                    await _wait(stop, 5.0)
                    await connection.execute("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.info("outbox %s: LISTEN connection lost (%s); reconnecting", self.destination, exc)
                await _wait(stop, 2.0)
            finally:
                # The lock goes with the connection (closed here, or dead already).
                self.leading = False
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)

    @property
    def _lock_name(self) -> str:
        return f"outbox:{self.destination}"


# A session-level lock: held until released or until the connection ends, whichever comes first.
_TAKE_LEAD = "SELECT pg_try_advisory_lock(hashtext($1))"
STANDBY_SECONDS = 1.0
# PostgreSQL ends the session of a leader that vanished without closing its connection (a host
# gone, a network cut) within ~25 s instead of hours, which frees its lock for a standby.
_DEAD_PEER_DETECTION = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def rabbitmq_deliverer(publisher: RabbitPublisher) -> Deliver:
    """Publish a batch to RabbitMQ with confirms in flight together (a window), each in its trace."""
    publish_tracer = tracer("shared.outbox")

    async def publish_one(record: OutboxRecord) -> None:
        with publish_tracer.start_as_current_span(
            f"{record.exchange} publish",
            context=extract_context(record.headers),
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.destination.name": record.exchange,
                "messaging.rabbitmq.routing_key": record.routing_key,
            },
        ):
            await publisher.publish(
                record.exchange,
                record.routing_key,
                orjson.dumps(record.payload),
                headers=inject_context(),
                message_id=record.message_id,
            )

    async def publish_untraced(record: OutboxRecord) -> None:
        # With nothing exporting spans, a producer span would be unsampled: the message carries
        # the trace context stored with the row, the same trace id the producer span would give.
        await publisher.publish(
            record.exchange,
            record.routing_key,
            orjson.dumps(record.payload),
            headers=record.headers,
            message_id=record.message_id,
        )

    async def deliver(records: Sequence[OutboxRecord]) -> None:
        send = publish_one if spans_exported() else publish_untraced
        results = await asyncio.gather(*(send(record) for record in records), return_exceptions=True)
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            raise errors[0]

    return deliver
