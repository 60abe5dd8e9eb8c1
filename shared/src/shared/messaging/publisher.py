"""Persistent, publisher-confirmed publishing over one robust connection per process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from shared.errors import DependencyUnavailable, InvalidInput
from shared.messaging.topology import QueueType, declare_topology

logger = logging.getLogger(__name__)
PUBLISH_TIMEOUT_SECONDS = 5.0


class RabbitPublisher:
    """Connects lazily, so a process starts while RabbitMQ is down; the outbox relay retries."""

    def __init__(self, url: str, queue_type: QueueType = "classic") -> None:
        self._url = url
        self._queue_type: QueueType = queue_type
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._lock = asyncio.Lock()

    async def _ready_channel(self) -> AbstractChannel:
        channel = self._channel
        if channel is not None and not channel.is_closed:
            return channel  # the common case, without queueing on the lock once per message
        async with self._lock:
            if self._connection is None or self._connection.is_closed:
                self._connection = await aio_pika.connect_robust(self._url, timeout=5)
                self._channel = None
            if self._channel is None or self._channel.is_closed:
                self._channel = await self._connection.channel(publisher_confirms=True)
                self._exchanges = await declare_topology(self._channel, self._queue_type)
            return self._channel

    async def publish(
        self, exchange: str, routing_key: str, body: bytes, headers: Mapping[str, Any], message_id: str
    ) -> None:
        """Publish one persistent message and wait for the broker's confirm.

        Raises DependencyUnavailable for whatever the broker or the connection to it does (aio-pika
        says "connection closed" with a RuntimeError, among others): nothing in a message can make
        RabbitMQ refuse it, so the outbox relay retries those. An unknown exchange is InvalidInput."""
        try:
            await self._ready_channel()
        except Exception as exc:
            raise DependencyUnavailable(f"rabbitmq is unavailable ({exc!r})", dependency="rabbitmq") from exc
        target = self._exchanges.get(exchange)
        if target is None:
            raise InvalidInput(f"no exchange named {exchange!r}")
        message = aio_pika.Message(
            body,
            headers=dict(headers),
            message_id=message_id,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            await target.publish(
                message, routing_key=routing_key, mandatory=False, timeout=PUBLISH_TIMEOUT_SECONDS
            )
        except Exception as exc:
            raise DependencyUnavailable(f"rabbitmq is unavailable ({exc!r})", dependency="rabbitmq") from exc

    async def declare_topology_early(self, timeout_seconds: float = 3.0) -> None:
        """Connect once at start-up, which declares every exchange and queue, so events published
        before any worker ever ran wait in their queues. Best effort: if RabbitMQ is down the
        process still starts, and the outbox relay publishes once it is back."""
        try:
            await asyncio.wait_for(self.ping(), timeout_seconds)
        except Exception as exc:
            logger.warning("RabbitMQ not reachable at start-up (%r); the outbox will publish once it is", exc)

    async def ping(self) -> None:
        channel = await self._ready_channel()
        if channel.is_closed:
            raise ConnectionError("RabbitMQ channel is closed")

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
            self._channel = None
