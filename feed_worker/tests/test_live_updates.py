"""After a fan-out, every feed owner's live stream gets an `update` with the feed item's JSON; after
a delete, a `delete` {id}: read back from the real Redis Streams the notifications service serves."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from redis.asyncio import Redis

from devtools.testing import wait_for
from notifications.live import stream_key
from shared.auth import TokenCodec
from shared.messaging.topology import TWEET_DELETE


async def _live(redis: Redis, user_id: str) -> list[tuple[str, Any]]:
    entries = await redis.xrange(stream_key(user_id))
    return [(fields["event"], orjson.loads(fields["data"])) for _, fields in entries]


async def test_fan_out_tells_each_feed_owner_live_and_a_delete_too(
    kit: Any, redis: Redis, tweets_service: Any
) -> None:
    author, *followers = await kit.insert_users(4)
    await kit.insert_follows(author, followers)
    everyone = [author, *followers]
    for user_id in everyone:
        await redis.delete(stream_key(user_id))
    token = TokenCodec(kit.settings.jwt).issue(uuid.UUID(author), "someone")
    created = await tweets_service.client.post(
        "/tweet", json={"content": "live one"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201, created.text
    tweet = created.json()

    item = {key: tweet[key] for key in ("id", "user_id", "content", "num_likes", "num_replys", "num_reposts")}

    async def updated() -> bool:
        for user_id in everyone:
            events = await _live(redis, user_id)
            if len(events) != 1 or events[0][0] != "update":
                return False
            if {key: events[0][1][key] for key in item} != item:
                return False
        return True

    await wait_for(updated, timeout=30)
    await kit.publish_tweet(TWEET_DELETE, tweet["id"], author)

    async def deleted() -> bool:
        for user_id in everyone:
            events = await _live(redis, user_id)
            if [event for event, _ in events] != ["update", "delete"] or events[1][1] != {"id": tweet["id"]}:
                return False
        return True

    await wait_for(deleted, timeout=30)
