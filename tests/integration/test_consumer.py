"""The shared consumer against a real RabbitMQ: an attempt that hangs is cancelled and retried."""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import orjson

from devtools.testing import wait_for
from shared.errors import DependencyUnavailable
from shared.messaging.consumer import EventConsumer, Subscription
from shared.messaging.topology import FEED_FOLLOWS_QUEUE, QUEUES, USER_EVENTS, declare_topology
from shared.settings import Settings, WorkerSettings


async def test_a_hanging_attempt_is_cancelled_and_the_message_handled_on_retry(settings: Settings) -> None:
    url = settings.rabbitmq.url.get_secret_value()
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    exchanges = await declare_topology(channel)
    for name in (FEED_FOLLOWS_QUEUE, QUEUES[FEED_FOLLOWS_QUEUE].dlq):
        await (await channel.get_queue(name)).purge()

    attempts: list[dict[str, Any]] = []

    async def handler(body: dict[str, Any]) -> None:
        attempts.append(body)
        if len(attempts) == 1:
            await asyncio.Event().wait()  # stuck, like a call that never returns

    worker = WorkerSettings(handler_timeout_seconds=0.5, retry_base_seconds=0.05, retry_max_seconds=0.2)
    consumer = EventConsumer(url, [Subscription(FEED_FOLLOWS_QUEUE, handler)], worker, "test-consumer")
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        await exchanges[USER_EVENTS].publish(
            aio_pika.Message(orjson.dumps({"marker": "hang-once"})), routing_key="user.follow"
        )
        await wait_for(lambda: len(attempts) >= 2, timeout=10)
        assert all(body == {"marker": "hang-once"} for body in attempts)

        async def acked() -> bool:
            queue = await channel.declare_queue(FEED_FOLLOWS_QUEUE, passive=True)
            return queue.declaration_result.message_count == 0

        await wait_for(acked, timeout=5)
        dlq = await channel.declare_queue(QUEUES[FEED_FOLLOWS_QUEUE].dlq, passive=True)
        assert dlq.declaration_result.message_count == 0
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
        await connection.close()


async def test_a_failing_message_is_dead_lettered_after_max_attempts_and_an_outage_spends_none(
    settings: Settings,
) -> None:
    """A dependency outage is waited out for as long as it lasts (here beyond max_attempts); a
    failure of the message itself is retried max_attempts times, then the message goes to the DLQ."""
    url = settings.rabbitmq.url.get_secret_value()
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    exchanges = await declare_topology(channel)
    for name in (FEED_FOLLOWS_QUEUE, QUEUES[FEED_FOLLOWS_QUEUE].dlq):
        await (await channel.get_queue(name)).purge()

    attempts: dict[str, int] = {"outage": 0, "poison": 0}

    async def handler(body: dict[str, Any]) -> None:
        attempts[body["marker"]] += 1
        if body["marker"] == "outage" and attempts["outage"] <= 6:
            raise DependencyUnavailable("redis is unavailable", dependency="redis")
        if body["marker"] == "poison":
            raise ValueError("this message can never be handled")

    worker = WorkerSettings(max_attempts=3, retry_base_seconds=0.01, retry_max_seconds=0.05)
    consumer = EventConsumer(url, [Subscription(FEED_FOLLOWS_QUEUE, handler)], worker, "test-consumer")
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        for marker in ("outage", "poison"):
            await exchanges[USER_EVENTS].publish(
                aio_pika.Message(orjson.dumps({"marker": marker})), routing_key="user.follow"
            )

        async def settled() -> bool:
            if attempts["outage"] < 7:  # still waiting out the outage (unacked, so not counted below)
                return False
            queue = await channel.declare_queue(FEED_FOLLOWS_QUEUE, passive=True)
            dlq = await channel.declare_queue(QUEUES[FEED_FOLLOWS_QUEUE].dlq, passive=True)
            return queue.declaration_result.message_count == 0 and dlq.declaration_result.message_count == 1

        await wait_for(settled, timeout=10)
        assert attempts == {"outage": 7, "poison": 3}
        dead = await (await channel.get_queue(QUEUES[FEED_FOLLOWS_QUEUE].dlq)).get(no_ack=True)
        assert orjson.loads(dead.body) == {"marker": "poison"}
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
        await connection.close()
