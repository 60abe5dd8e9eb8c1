"""After a fan-out, every feed owner's live stream gets an `update` with the feed item's JSON; after
a delete, a `delete` {id}: read back from the real Redis Streams the notifications service serves."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from redis.asyncio import Redis

from devtools.testing import wait_for
from notifications.live import LivePresence, stream_key
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
    await LivePresence(redis).mark(everyone)
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


async def test_followers_without_a_recent_stream_are_not_published_to(
    kit: Any, redis: Redis, tweets_service: Any
) -> None:
    author, live_follower, offline_follower = await kit.insert_users(3)
    await kit.insert_follows(author, [live_follower, offline_follower])
    for user_id in (author, live_follower, offline_follower):
        await redis.delete(stream_key(user_id))
    await LivePresence(redis).mark([live_follower])
    token = TokenCodec(kit.settings.jwt).issue(uuid.UUID(author), "someone")
    created = await tweets_service.client.post(
        "/tweet", json={"content": "for the live ones"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201, created.text

    async def told() -> bool:
        return [event for event, _ in await _live(redis, live_follower)] == ["update"]

    await wait_for(told, timeout=30)
    # Same fan-out, same page: the offline follower's feed was written, its stream was not.
    assert await redis.exists(stream_key(offline_follower)) == 0
    assert await redis.exists(stream_key(author)) == 0
