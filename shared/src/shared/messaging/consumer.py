"""Consuming with at-least-once semantics: ack after the handler's write, bounded retries, then the DLQ.

- A message that cannot be decoded or validated is rejected at once: the queue dead-letters it.
- A handler failure is retried with exponential backoff up to `max_attempts`, then dead-lettered.
- A dependency outage (database, Redis, another service unreachable) is not the message's fault:
  it is retried with capped backoff for as long as the outage lasts, so nothing is dead-lettered
  because Redis restarted. Unacked messages are redelivered if the worker dies meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from opentelemetry import context as otel_context
from opentelemetry import trace
from pydantic import ValidationError
from tenacity import AsyncRetrying, RetryCallState

from shared.errors import is_transient
from shared.messaging.topology import QUEUES, QueueType, declare_dlq, declare_exchanges, declare_queue
from shared.metrics import registry as metrics
from shared.metrics.messaging import CONSUMED, HANDLING, REDELIVERED, RETRIED, sample_queues
from shared.metrics.server import serving_metrics
from shared.retry import Stopped, retrying
from shared.settings import WorkerSettings
from shared.telemetry import extract_context, tracer

logger = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], Awaitable[None]]
ACKED = "acked"
DEAD_LETTERED = "dead_lettered"


class MalformedMessage(Exception):
    """The message can never be handled: dead-letter it without retrying."""


def _failure(state: RetryCallState) -> BaseException:
    """The exception of the attempt that just failed."""
    assert state.outcome is not None
    exc = state.outcome.exception()
    assert exc is not None
    return exc


@dataclass(frozen=True)
class Subscription:
    queue: str
    handler: Handler


class EventConsumer:
    """Runs the handlers of one worker process over a robust connection until stopped."""

    def __init__(
        self,
        url: str,
        subscriptions: list[Subscription],
        settings: WorkerSettings,
        name: str,
        queue_type: QueueType = "classic",
    ) -> None:
        self._url = url
        self._queue_type: QueueType = queue_type
        self._subscriptions = subscriptions
        self._settings = settings
        self._tracer = tracer(name)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self.connection: AbstractRobustConnection | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; a worker section with a metrics port also serves /metrics."""
        with serving_metrics(self._settings):
            await self._run(stop)

    async def _run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        self.connection = await self._connect(stop)
        if self.connection is None:
            return
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=self._settings.prefetch)
        await declare_exchanges(channel)
        tags = []
        for subscription in self._subscriptions:
            queue = await declare_queue(channel, QUEUES[subscription.queue], self._queue_type)
            callback = self._callback(subscription)
            tags.append((queue, await queue.consume(callback)))
            logger.info("consuming %s (prefetch %d)", subscription.queue, self._settings.prefetch)
        sampler = (
            asyncio.create_task(sample_queues(self.connection, [s.queue for s in self._subscriptions], stop))
            if metrics.enabled()
            else None
        )
        await stop.wait()
        if sampler is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        for queue, tag in tags:
            try:
                await queue.cancel(tag)
            except Exception:  # the channel may already be gone; unacked messages return anyway
                logger.debug("cancel of %s failed", tag, exc_info=True)
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=10)
        await self.connection.close()

    async def _connect(self, stop: asyncio.Event) -> AbstractRobustConnection | None:
        def log(state: RetryCallState) -> None:
            logger.warning(
                "RabbitMQ unreachable (%s); retrying in %.1fs", _failure(state), state.upcoming_sleep
            )

        try:
            async for attempt in self._retrying(before_sleep=log):
                with attempt:
                    return await aio_pika.connect_robust(self._url, timeout=5)
        except Stopped:
            pass
        return None

    def _retrying(self, **options: Any) -> AsyncRetrying:
        return retrying(
            self._stop,
            base_seconds=self._settings.retry_base_seconds,
            max_seconds=self._settings.retry_max_seconds,
            **options,
        )

    def _callback(self, subscription: Subscription) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._in_flight.add(task)
            try:
                await self._handle(subscription, message)
            finally:
                if task is not None:
                    self._in_flight.discard(task)

        return on_message

    async def _handle(self, subscription: Subscription, message: AbstractIncomingMessage) -> None:
        started = time.perf_counter()
        if message.redelivered:
            REDELIVERED.labels(subscription.queue).inc()
        outcome = await self._handle_traced(subscription, message)
        if outcome is not None:
            CONSUMED.labels(subscription.queue, outcome).inc()
            HANDLING.labels(subscription.queue).observe(time.perf_counter() - started)

    async def _handle_traced(
        self, subscription: Subscription, message: AbstractIncomingMessage
    ) -> str | None:
        """Handle the message; returns "acked", "dead_lettered", or None when stopping left it
        unacked (the broker redelivers it)."""
        parent = otel_context.get_current()
        if not trace.get_current_span().get_span_context().is_valid:
            parent = extract_context(message.headers)
        with self._tracer.start_as_current_span(
            f"{subscription.queue} process", context=parent, kind=trace.SpanKind.CONSUMER
        ) as span:
            span.set_attribute("messaging.destination.name", subscription.queue)
            span.set_attribute("messaging.message.id", message.message_id or "")
            try:
                body = orjson.loads(message.body)
                if not isinstance(body, dict):
                    raise MalformedMessage("body is not a JSON object")
            except (orjson.JSONDecodeError, MalformedMessage) as exc:
                await self._dead_letter(subscription, message, exc)
                return DEAD_LETTERED
            failures = 0

            def retry(state: RetryCallState) -> bool:
                nonlocal failures
                if state.outcome is None or not state.outcome.failed:
                    return False
                exc = _failure(state)
                if not isinstance(exc, Exception) or isinstance(exc, (MalformedMessage, ValidationError)):
                    return False
                if is_transient(exc):
                    # A dependency is down (or an attempt overran: handlers are idempotent, so it
                    # was cancelled and runs again): wait for it without spending the message's attempts.
                    return True
                failures += 1
                return failures < self._settings.max_attempts

            def log(state: RetryCallState) -> None:
                exc = _failure(state)
                why = (
                    f"attempt took longer than {self._settings.handler_timeout_seconds:.0f}s; cancelled"
                    if isinstance(exc, TimeoutError)
                    else f"dependency unavailable ({exc})"
                    if is_transient(exc)
                    else f"attempt {failures} failed ({exc!r})"
                )
                cause = (
                    "timeout"
                    if isinstance(exc, TimeoutError)
                    else "dependency"
                    if is_transient(exc)
                    else "error"
                )
                RETRIED.labels(subscription.queue, cause).inc()
                trace.get_current_span().record_exception(exc)
                logger.warning("%s: %s; retrying in %.2fs", subscription.queue, why, state.upcoming_sleep)

            try:
                async for attempt in self._retrying(retry=retry, before_sleep=log):
                    with attempt:
                        await asyncio.wait_for(
                            subscription.handler(body), self._settings.handler_timeout_seconds
                        )
            except Stopped:
                return None  # stopping: not acked, so the broker redelivers it
            except Exception as exc:
                await self._dead_letter(subscription, message, exc)
                return DEAD_LETTERED
            await message.ack()
            return ACKED

    async def _dead_letter(
        self, subscription: Subscription, message: AbstractIncomingMessage, exc: BaseException
    ) -> None:
        logger.error("%s: dead-lettering message %s: %r", subscription.queue, message.message_id, exc)
        trace.get_current_span().record_exception(exc)
        # The queue's x-dead-letter-routing-key sends it to <queue>.dlq.
        await message.reject(requeue=False)


async def replay_dead_letters(
    url: str, queue: str, limit: int | None = None, queue_type: QueueType = "classic"
) -> int:
    """Move the messages waiting in `<queue>.dlq` (at most `limit`) back to `<queue>`; returns how many."""
    spec = QUEUES[queue]
    connection = await aio_pika.connect_robust(url, timeout=5)
    moved = 0
    try:
        channel = await connection.channel(publisher_confirms=True)
        await declare_exchanges(channel)
        await declare_queue(channel, spec, queue_type)
        dlq = await declare_dlq(channel, spec, queue_type)
        # Only the messages waiting now: one that fails again returns to the DLQ while the replay
        # runs, and taking it again would cycle it for as long as the consumer keeps up.
        waiting = int(dlq.declaration_result.message_count or 0)
        budget = waiting if limit is None else min(limit, waiting)
        while moved < budget:
            message = await dlq.get(fail=False, no_ack=False)
            if message is None:
                break
            headers = {k: v for k, v in (message.headers or {}).items() if k != "x-death"}
            await channel.default_exchange.publish(
                aio_pika.Message(
                    message.body,
                    headers=headers,
                    message_id=message.message_id,
                    content_type=message.content_type,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=spec.name,
            )
            await message.ack()
            moved += 1
    finally:
        await connection.close()
    return moved
