"""The outbox relay: delivers the rows shared.messaging.outbox writes, and marks them sent.

The relay is woken by NOTIFY (sent on commit), falls back to a slow poll, and keeps retrying while
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
from typing import Any

import asyncpg
import orjson
from opentelemetry import trace

from shared.messaging.outbox import NOTIFY_CHANNEL, OutboxRecord
from shared.messaging.publisher import RabbitPublisher
from shared.telemetry import extract_context, inject_context, spans_exported, tracer

logger = logging.getLogger(__name__)

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

    async def send(record: OutboxRecord, headers: dict[str, Any]) -> None:
        await publisher.publish(
            record.exchange,
            record.routing_key,
            orjson.dumps(record.payload),
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
