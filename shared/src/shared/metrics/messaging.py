"""The pipeline's metrics: outbox backlog per destination, queue depths and dead letters per queue
(sampled every [Metrics] sample_seconds), and what consumers did with each message (counted).

The sampled gauges are refreshed by a task beside the relay or the consumer instead of at scrape
time: prometheus-client collects synchronously, and the queries are async. Every process of a
service samples; in multi-process mode the most recent sample wins.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from prometheus_client import Counter, Gauge, Histogram

from shared.metrics.registry import sample_seconds
from shared.retry import sleep_unless_stopped

logger = logging.getLogger(__name__)

OUTBOX_BACKLOG = Gauge(
    "outbox_backlog_rows",
    "Outbox rows not yet delivered (parked ones excluded)",
    ["destination"],
    multiprocess_mode="livemostrecent",
)
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_age_seconds",
    "Age of the oldest undelivered outbox row (0 when none)",
    ["destination"],
    multiprocess_mode="livemostrecent",
)
OUTBOX_PARKED = Gauge(
    "outbox_parked_rows",
    "Outbox rows set aside after their destination refused them",
    ["destination"],
    multiprocess_mode="livemostrecent",
)
QUEUE_DEPTH = Gauge(
    "queue_depth_messages",
    "Messages ready in the queue (not yet delivered to a consumer)",
    ["queue"],
    multiprocess_mode="livemostrecent",
)
QUEUE_DEAD_LETTERS = Gauge(
    "queue_dead_letters",
    "Messages waiting in the queue's <queue>.dlq",
    ["queue"],
    multiprocess_mode="livemostrecent",
)
CONSUMED = Counter(
    "consumer_messages",
    "Messages a consumer finished with, by outcome (acked, dead_lettered)",
    ["queue", "outcome"],
)
REDELIVERED = Counter("consumer_redeliveries", "Messages the broker delivered again", ["queue"])
RETRIED = Counter(
    "consumer_retries",
    "Handling attempts that failed and will be tried again, by cause (dependency down, timeout, error)",
    ["queue", "cause"],
)
HANDLING = Histogram(
    "consumer_handling_seconds",
    "Time from a message's delivery to its ack or dead-lettering",
    ["queue"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0),
)

_OUTBOX_SAMPLE = (
    "SELECT count(*) FILTER (WHERE parked_at IS NULL),"
    " count(*) FILTER (WHERE parked_at IS NOT NULL),"
    " coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE parked_at IS NULL)), 0)::float8"
    " FROM outbox WHERE destination = $1 AND published_at IS NULL"
)


async def sample_outbox(pool: asyncpg.Pool, destination: str, stop: asyncio.Event) -> None:
    """Refresh the destination's outbox gauges until `stop` (an asyncio.Event) is set."""
    backlog = OUTBOX_BACKLOG.labels(destination)
    oldest = OUTBOX_OLDEST_AGE.labels(destination)
    parked = OUTBOX_PARKED.labels(destination)
    while not stop.is_set():
        try:
            async with pool.acquire(timeout=5) as connection:
                pending, set_aside, age = await connection.fetchrow(_OUTBOX_SAMPLE, destination)
            backlog.set(pending)
            parked.set(set_aside)
            oldest.set(age)
        except Exception as exc:  # the database is down: the gauges keep their last value
            logger.debug("outbox %s: sampling failed (%s)", destination, exc)
        await sleep_unless_stopped(stop, sample_seconds())


async def sample_queues(connection: AbstractRobustConnection, queues: list[str], stop: asyncio.Event) -> None:
    """Refresh the depth of each queue and of its DLQ (passive declares) until `stop` is set."""
    channel: AbstractRobustChannel | None = None
    while not stop.is_set():
        try:
            if channel is None or channel.is_closed:
                channel = await connection.channel()
            for name in queues:
                QUEUE_DEPTH.labels(name).set(await _depth(channel, name))
                QUEUE_DEAD_LETTERS.labels(name).set(await _depth(channel, f"{name}.dlq"))
        except Exception as exc:  # the broker is away: the gauges keep their last value
            logger.debug("queue sampling failed (%s)", exc)
            channel = None
        await sleep_unless_stopped(stop, sample_seconds())
    if channel is not None and not channel.is_closed:
        await channel.close()


async def _depth(channel: AbstractRobustChannel, name: str) -> int:
    # Passive: only asks; robust=False: nothing to re-declare after a reconnect.
    queue = await channel.declare_queue(name, passive=True, robust=False)
    return int(queue.declaration_result.message_count or 0)
