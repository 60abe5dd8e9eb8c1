"""The outbox relay: delivers the rows shared.messaging.outbox writes, and marks them sent.

The relay is woken by NOTIFY (sent on commit), falls back to a slow poll, and keeps retrying while
its destination (RabbitMQ, another service) is down. A batch that fails for another reason (the
destination refused it) is split in halves until the rows at fault fail alone: those are parked
(dead-lettered in the table, counted in /ready) and the rest keep flowing. Every process of a service (workers, replicas)
runs the relays, but only one delivers a destination at a time: the one whose LISTEN connection
holds that destination's advisory lock, so rows go out in id order; the others stand by and take
over when its connection goes. Delivery is at-least-once: consumers are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import orjson
from opentelemetry import metrics, trace
from tenacity import RetryCallState

from shared.errors import is_transient
from shared.messaging.outbox import NOTIFY_CHANNEL, OutboxRecord
from shared.messaging.publisher import RabbitPublisher
from shared.metrics import registry as prometheus
from shared.metrics.messaging import sample_outbox
from shared.retry import Stopped, retrying, sleep_unless_stopped
from shared.telemetry import extract_context, inject_context, spans_exported, tracer

logger = logging.getLogger(__name__)

Deliver = Callable[[Sequence[OutboxRecord]], Awaitable[None]]
_parked_counter = metrics.get_meter(__name__).create_counter(
    "outbox.parked", description="Outbox rows set aside after their destination refused them alone"
)

# The relay's statements run straight on asyncpg: at a high write rate the relay passes are many
# and small, and the ORM engine's per-statement cost was most of the relay's CPU.
# No row locks: only the relay holding the destination's lock reads its rows, and a batch read
# twice (a lock lost mid-batch) is only delivered twice, which consumers are built for.
_CLAIM = (
    "SELECT id, destination, exchange, routing_key, message_id, payload::text, headers::text, attempts"
    " FROM outbox WHERE destination = $1 AND published_at IS NULL AND parked_at IS NULL ORDER BY id LIMIT $2"
)
_MARK_SENT = "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1::bigint[])"
_MARK_FAILED = "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::bigint[])"
_PARK = "UPDATE outbox SET parked_at = now(), attempts = attempts + 1, last_error = $2 WHERE id = $1"
_COUNT_PARKED = "SELECT count(*) FROM outbox WHERE destination = $1 AND parked_at IS NOT NULL"
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
        transient: Callable[[BaseException], bool] = is_transient,
    ) -> None:
        self._pool = pool
        self._listen_dsn = listen_dsn
        self.destination = destination
        self._deliver = deliver
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._keep_sent_seconds = keep_sent_seconds
        self._transient = transient
        self._wake = asyncio.Event()
        # Why the last delivery failed; None once one succeeds.
        self.last_error: str | None = None
        # True while this process holds the destination's lock (the relay delivering it).
        self.leading = False
        # Rows of this destination parked (by any process), as last counted by this one.
        self.parked = 0

    @property
    def background_name(self) -> str:
        return f"outbox.{self.destination}"

    def state(self) -> str:
        """For /ready: "standby" (another process delivers), "delivering", or "retrying: <why>";
        then ", N parked" when rows were set aside."""
        if not self.leading:
            return "standby"
        state = "delivering" if self.last_error is None else f"retrying: {self.last_error}"
        return f"{state}, {self.parked} parked" if self.parked else state

    async def relay_once(self) -> int:
        """Deliver one batch; returns how many rows it settled (sent or parked). Raises if delivery
        failed for a transient reason (the rows stay pending)."""
        async with self._pool.acquire(timeout=5) as connection:
            rows = await connection.fetch(_CLAIM, self.destination, self._batch_size)
            records = [
                OutboxRecord(
                    id=row[0],
                    destination=row[1],
                    exchange=row[2],
                    routing_key=row[3],
                    message_id=row[4],
                    body=row[5].encode(),
                    headers=orjson.loads(row[6]),
                    attempts=row[7],
                )
                for row in rows
            ]
            if records:
                await self._deliver_or_split(connection, records)
        return len(records)

    async def _deliver_or_split(
        self, connection: asyncpg.Connection, records: Sequence[OutboxRecord]
    ) -> None:
        """Deliver the records; if the destination refuses them, deliver each half in turn (in id
        order), down to the single rows it refuses, which are parked."""
        try:
            await self._deliver(records)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            if self._transient(exc):
                await connection.execute(_MARK_FAILED, [record.id for record in records], error)
                raise
            if len(records) > 1:
                half = len(records) // 2
                await self._deliver_or_split(connection, records[:half])
                await self._deliver_or_split(connection, records[half:])
                return
            [record] = records
            await connection.execute(_PARK, record.id, error)
            self.parked = await connection.fetchval(_COUNT_PARKED, self.destination)
            _parked_counter.add(1, {"destination": self.destination})
            logger.error(
                "outbox %s: parked row %d (%s): %s", self.destination, record.id, record.message_id, error
            )
        else:
            await connection.execute(_MARK_SENT, [record.id for record in records])

    async def run(self, stop: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen(stop), name=f"outbox-listen-{self.destination}")
        sampler = (
            asyncio.create_task(sample_outbox(self._pool, self.destination, stop))
            if prometheus.enabled()
            else None
        )

        def retrying_in(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            self.last_error = f"{type(exc).__name__}: {exc}"[:200]
            logger.warning(
                "outbox %s: delivery failed (%r); retrying in %.1fs",
                self.destination,
                exc,
                state.upcoming_sleep,
            )

        passes = 0
        try:
            while not stop.is_set():
                # Cleared before the claim, not after: a NOTIFY arriving while a batch is in flight
                # must wake the next pass instead of waiting for the poll.
                self._wake.clear()
                if not self.leading:
                    await sleep_unless_stopped(stop, self._poll_seconds, wake=self._wake)
                    continue
                try:
                    async for attempt in retrying(
                        stop, base_seconds=0.2, max_seconds=5.0, before_sleep=retrying_in
                    ):
                        with attempt:
                            # A relay that lost the lead meanwhile stops retrying: the new leader delivers.
                            sent = await self.relay_once() if self.leading else 0
                except Stopped:
                    break
                self.last_error = None
                if sent >= self._batch_size:
                    continue  # more are waiting
                passes += 1
                if passes % 500 == 0:
                    await self._purge_sent()
                elif self.parked:
                    await self._count_parked()  # until someone releases or deletes them
                await sleep_unless_stopped(stop, self._poll_seconds, wake=self._wake)
        finally:
            for task in (listener, sampler):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _purge_sent(self) -> None:
        try:
            async with self._pool.acquire(timeout=5) as connection:
                await connection.execute(_PURGE_SENT, float(self._keep_sent_seconds))
        except Exception:
            logger.warning("outbox %s: purge of sent rows failed", self.destination, exc_info=True)

    async def _count_parked(self) -> None:
        try:
            async with self._pool.acquire(timeout=5) as connection:
                self.parked = await connection.fetchval(_COUNT_PARKED, self.destination)
        except Exception:
            logger.warning("outbox %s: counting parked rows failed", self.destination, exc_info=True)

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
                    await sleep_unless_stopped(stop, STANDBY_SECONDS)
                await connection.add_listener(NOTIFY_CHANNEL, on_notify)
                self.parked = await connection.fetchval(_COUNT_PARKED, self.destination)
                self.leading = True
                self._wake.set()  # catch up on anything committed while not listening
                while not stop.is_set() and not connection.is_closed():
                    await sleep_unless_stopped(stop, 5.0)
                    await connection.execute("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.info("outbox %s: LISTEN connection lost (%s); reconnecting", self.destination, exc)
                await sleep_unless_stopped(stop, 2.0)
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


def rabbitmq_deliverer(publisher: RabbitPublisher) -> Deliver:
    """Publish a batch to RabbitMQ with confirms in flight together (a window), each in its trace."""
    publish_tracer = tracer("shared.outbox")

    async def send(record: OutboxRecord, headers: dict[str, Any]) -> None:
        await publisher.publish(
            record.exchange,
            record.routing_key,
            record.body,
            headers=headers,
            message_id=record.message_id,
        )

    async def publish_one(record: OutboxRecord) -> None:
        if not spans_exported():
            # A producer span would be unsampled: the message carries the trace context stored
            # with the row, the same trace id the producer span would give.
            await send(record, record.headers)
            return
        with publish_tracer.start_as_current_span(
            f"{record.exchange} publish",
            context=extract_context(record.headers),
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.destination.name": record.exchange,
                "messaging.rabbitmq.routing_key": record.routing_key,
            },
        ):
            await send(record, inject_context())

    async def deliver(records: Sequence[OutboxRecord]) -> None:
        results = await asyncio.gather(*(publish_one(record) for record in records), return_exceptions=True)
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            raise errors[0]

    return deliver
