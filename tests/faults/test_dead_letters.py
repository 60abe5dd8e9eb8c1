"""A poison message (undecodable, or not a valid event) goes to the queue's DLQ at once, the consumers
go on with the next messages, and `replay_dead_letters` (`make replay-dlq`) moves it back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aio_pika
import pytest

from devtools.testing import wait_for
from shared.messaging.consumer import replay_dead_letters
from shared.messaging.topology import TWEET_CREATE, TWEET_EVENTS

if TYPE_CHECKING:
    from tests.faults.conftest import FaultyFleet

pytestmark = [pytest.mark.faults, pytest.mark.e2e]
# Every queue bound to tweet.create: each consumer dead-letters its own copy of a poison message.
QUEUES = ("general_tweets", "search_tweets", "notifications")

POISON = [
    b"\x00not json at all",
    b'["a", "list", "not", "an", "object"]',
    b'{"event_type": "tweet.create", "tweet_id": "not-a-uuid"}',
]


@pytest.fixture(autouse=True)
async def no_poison_left(fleet: FaultyFleet) -> AsyncIterator[None]:
    """The other fault tests count on empty DLQs: every consumer's copies of the poison are waited
    for (a slow consumer dead-lettering after the purge left them to the next test), then purged."""
    before = {queue: await fleet.dead_letters(queue) for queue in QUEUES}
    yield

    async def every_copy_dead_lettered() -> bool:
        counts = {queue: await fleet.dead_letters(queue) for queue in QUEUES}
        return all(counts[queue] >= before[queue] + len(POISON) for queue in QUEUES)

    await wait_for(every_copy_dead_lettered, timeout=60, interval=0.2)
    for queue in QUEUES:
        await fleet.purge_dead_letters(queue)


async def publish_poison(fleet: FaultyFleet) -> None:
    connection = await aio_pika.connect(fleet.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(TWEET_EVENTS)
        for body in POISON:
            message = aio_pika.Message(
                body, message_id=str(uuid.uuid4()), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            )
            await exchange.publish(message, routing_key=TWEET_CREATE)
    finally:
        await connection.close()


async def test_poison_messages_are_dead_lettered_and_the_consumers_go_on(fleet: FaultyFleet) -> None:
    before = {queue: await fleet.dead_letters(queue) for queue in QUEUES}
    author = await fleet.account()

    await publish_poison(fleet)
    tweet = await fleet.post(author, "healthy tweet after poison")

    async def dead_lettered() -> bool:
        counts = {queue: await fleet.dead_letters(queue) for queue in QUEUES}
        return all(counts[queue] == before[queue] + len(POISON) for queue in QUEUES)

    await wait_for(dead_lettered, timeout=30, interval=0.2)
    await wait_for(lambda: _in_feed(fleet, author.id, tweet["id"]), timeout=30, interval=0.2)

    async def indexed() -> bool:
        response = await fleet.http["search"].get(
            "/search", params={"q": "poison", "user_id": str(author.id)}
        )
        return response.status_code == 200 and [hit["id"] for hit in response.json()["results"]] == [
            tweet["id"]
        ]

    await wait_for(indexed, timeout=30, interval=0.2)
    assert all(fleet.processes.children[name].returncode is None for name in ("feed_worker", "search_worker"))


async def test_replayed_dead_letters_go_back_to_their_queue(fleet: FaultyFleet) -> None:
    await publish_poison(fleet)
    await wait_for(lambda: _dead_letters_at_least(fleet, len(POISON)), timeout=30, interval=0.2)
    waiting = await fleet.dead_letters("general_tweets")

    moved = await replay_dead_letters(fleet.amqp_url, "general_tweets")

    assert moved == waiting
    # Still poison: the worker takes them again and they come back to the DLQ, nothing is lost.
    await wait_for(lambda: _dead_letters_exactly(fleet, waiting), timeout=30, interval=0.2)


async def _in_feed(fleet: FaultyFleet, user_id: object, tweet_id: str) -> bool:
    return tweet_id in await fleet.feed(user_id)


async def _dead_letters_at_least(fleet: FaultyFleet, count: int) -> bool:
    return await fleet.dead_letters("general_tweets") >= count


async def _dead_letters_exactly(fleet: FaultyFleet, count: int) -> bool:
    return await fleet.dead_letters("general_tweets") == count
