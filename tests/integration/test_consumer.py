"""The shared consumer against a real RabbitMQ: an attempt that hangs is cancelled and retried."""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import orjson

from devtools.testing import wait_for
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
