"""GET /feed past fan-out on write: a followed big author's list merged into the page (with mutes and
deletes applied), and an inactive reader's feed rebuilt from the follow graph before the answer."""

from __future__ import annotations

import io
import time
import uuid
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text

from devtools.testing import StartedService, wait_for
from feed.activity import last_seen_key
from feed.authorfeeds import AuthorFeeds
from feed.entries import feed_key
from feed.rebuild_cli import parse, rebuild
from shared.settings import Settings


async def read_ids(feed: StartedService, headers: dict[str, str], **params: Any) -> list[str]:
    response = await feed.client.get("/feed", params={"limit": 100, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["tweets"]]


async def until_ids(feed: StartedService, headers: dict[str, str], expected: list[str]) -> None:
    async def arrived() -> bool:
        return await read_ids(feed, headers) == expected

    await wait_for(arrived, timeout=30)


async def follow_silently(people: Any, follower: str, followed_user: str) -> None:
    """A follow row without a user.follow event: no backfill, as for an account followed long ago."""
    assert people.users.engine is not None
    async with people.users.engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO follows (follower_id, following_id) VALUES (:follower, :followed)"),
            {"follower": uuid.UUID(follower), "followed": uuid.UUID(followed_user)},
        )


async def test_a_followed_big_authors_tweets_are_merged_into_the_page(
    people: Any,
    feed_service: StartedService,
    users_service: StartedService,
    tweets_service: StartedService,
    redis: Redis,
) -> None:
    big, big_headers = await people.user()
    reader, reader_headers = await people.user()
    older = await people.post(big_headers, "before the reader followed")
    mine = await people.post(reader_headers, "the reader's own")
    newer = await people.post(big_headers, "the newest")
    await until_ids(feed_service, big_headers, [newer["id"], older["id"]])
    await follow_silently(people, reader, big)
    # As the worker leaves it for a big author: their tweets in their list, not in the reader's feed.
    authors = AuthorFeeds(redis)
    for tweet in (older, newer):
        assert await authors.push(big, tweet["id"])
    await authors.mark_big(big)
    assert await redis.lrange(feed_key(reader), 0, -1) == [mine["id"]]

    # The feed process sees the big-author set within seconds.
    await until_ids(feed_service, reader_headers, [newer["id"], mine["id"], older["id"]])
    first = (await feed_service.client.get("/feed", params={"limit": 1}, headers=reader_headers)).json()
    assert first["has_more"] and first["next_cursor"] == newer["id"]
    assert await read_ids(feed_service, reader_headers, before=newer["id"]) == [mine["id"], older["id"]]

    deleted = await tweets_service.client.delete(f"/tweet/{older['id']}", headers=big_headers)
    assert deleted.status_code == 204
    await until_ids(feed_service, reader_headers, [newer["id"], mine["id"]])
    muted = await users_service.client.post(f"/users/{big}/mute", headers=reader_headers)
    assert muted.status_code == 201
    await until_ids(feed_service, reader_headers, [mine["id"]])


async def test_an_inactive_readers_feed_is_rebuilt_before_the_answer(
    people: Any, feed_service: StartedService, redis: Redis
) -> None:
    followed, followed_headers = await people.user()
    reader, reader_headers = await people.user()
    theirs = await people.post(followed_headers, "posted while the reader was away")
    await until_ids(feed_service, followed_headers, [theirs["id"]])
    await follow_silently(people, reader, followed)
    # Away for 40 days: fan-out skipped the reader, whose feed lacks the followed account's tweet.
    await redis.set(last_seen_key(reader), int(time.time() - 40 * 86_400))
    assert await redis.lrange(feed_key(reader), 0, -1) == []

    assert await read_ids(feed_service, reader_headers) == [theirs["id"]]
    assert time.time() - float(await redis.get(last_seen_key(reader))) < 60


async def test_the_rebuild_command_rebuilds_a_users_feed_with_a_progress_line(
    people: Any, feed_service: StartedService, redis_settings: Settings, redis: Redis
) -> None:
    followed, followed_headers = await people.user()
    reader, _ = await people.user()
    theirs = await people.post(followed_headers, "to be rebuilt")
    await until_ids(feed_service, followed_headers, [theirs["id"]])
    await follow_silently(people, reader, followed)
    await redis.rpush(feed_key(reader), str(uuid.uuid4()))  # stale: a tweet no longer followed
    out = io.StringIO()

    done = await rebuild(redis_settings, parse(["--user", reader, "--rate", "0"]), out)

    assert done == 1
    assert await redis.lrange(feed_key(reader), 0, -1) == [theirs["id"]]
    assert "1/1 feeds" in out.getvalue()
