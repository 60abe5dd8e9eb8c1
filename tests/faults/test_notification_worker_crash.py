"""A notification worker killed (SIGKILL) in the middle of a burst of 10,000 likes loses nothing and
duplicates nothing: the messages it had not acked go back to the `notifications` queue, the
restarted worker writes them again, and the natural key makes a second write of a committed batch
change nothing. Exactly one notification per liker is left, made by that liker's event."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import aio_pika
import orjson
import pytest

from devtools.fixtures import amqp_channel
from devtools.testing import wait_for
from shared.ids import uuid7
from shared.messaging.topology import TWEET_EVENTS, TWEET_LIKE

if TYPE_CHECKING:
    from tests.faults.conftest import FaultyFleet

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

LIKES = 10_000
PUBLISH_CHUNK = 500

_COUNT = "SELECT count(*) FROM notifications WHERE recipient_id = $1 AND tweet_id = $2 AND type = 'like'"


async def publish_likes(
    fleet: FaultyFleet, tweet_id: str, author_id: uuid.UUID, likers: list[str]
) -> dict[str, str]:
    """One tweet.like per liker, as the tweets service's outbox publishes them; liker -> event id."""
    events = {liker: str(uuid7()) for liker in likers}
    async with amqp_channel(fleet.settings) as channel:
        exchange = await channel.get_exchange(TWEET_EVENTS)

        async def like(liker: str) -> None:
            body = {
                "event_id": events[liker],
                "event_type": TWEET_LIKE,
                "occurred_at": datetime.now(UTC).isoformat(),
                "tweet_id": tweet_id,
                "author_id": str(author_id),
                "user_id": liker,
                "reply_id": None,
            }
            message = aio_pika.Message(
                orjson.dumps(body), message_id=events[liker], content_type="application/json"
            )
            await exchange.publish(message, routing_key=TWEET_LIKE)

        for start in range(0, len(likers), PUBLISH_CHUNK):
            await asyncio.gather(*(like(liker) for liker in likers[start : start + PUBLISH_CHUNK]))
    return events


async def notified(fleet: FaultyFleet, author_id: uuid.UUID, tweet_id: str) -> int:
    async with fleet.db("notifications") as connection:
        count: int = await connection.fetchval(_COUNT, author_id, uuid.UUID(tweet_id))
    return count


async def kill_worker_mid_batch(fleet: FaultyFleet, author_id: uuid.UUID, tweet_id: str) -> int:
    """SIGKILL the notification worker once some, not all, likes are written; how many were."""
    async with fleet.db("notifications") as connection:

        async def part_written() -> int:
            count: int = await connection.fetchval(_COUNT, author_id, uuid.UUID(tweet_id))
            assert count < LIKES, "every like was written before the worker could be killed"
            return count

        await wait_for(part_written, timeout=60, interval=0.005)
        await fleet.kill("notification_worker")
        written: int = await connection.fetchval(_COUNT, author_id, uuid.UUID(tweet_id))
    return written


async def test_killed_notification_worker_leaves_exactly_one_notification_per_like(
    fleet: FaultyFleet,
) -> None:
    author = await fleet.account()
    likers = await fleet.add_followers(author, LIKES)
    tweet = await fleet.post(author, "ten thousand people will like this")
    events = await publish_likes(fleet, tweet["id"], author.id, likers)

    written = await kill_worker_mid_batch(fleet, author.id, tweet["id"])
    assert 0 < written < LIKES, f"the worker died with {written} of {LIKES} written"

    await fleet.restart("notification_worker")

    async def all_written() -> bool:
        return await notified(fleet, author.id, tweet["id"]) == LIKES

    await wait_for(all_written, timeout=120, interval=0.2)
    async with fleet.db("notifications") as connection:
        rows = await connection.fetch(
            "SELECT actor_id, event_id FROM notifications WHERE recipient_id = $1",
            author.id,
        )
    actors = [str(row["actor_id"]) for row in rows]
    assert len(actors) == LIKES and set(actors) == set(likers), "a like lost or notified twice"
    assert all(str(row["event_id"]) == events[str(row["actor_id"])] for row in rows)
    assert await fleet.dead_letters("notifications") == 0
