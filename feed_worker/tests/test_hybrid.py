"""Past fan-out on write: big authors (more followers than fanout_max_followers, 3 here) write to
their own list, moving between modes without losing or duplicating entries, and inactive accounts
are skipped; on a Redis server and on a Redis Cluster."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from devtools.redis_cluster import REDIS_MODES
from devtools.testing import wait_for
from feed.activity import last_seen_key
from feed.authorfeeds import BIG_AUTHORS_KEY, author_feed_key
from feed.entries import feed_key
from shared.ids import uuid7
from shared.messaging.topology import TWEET_CREATE, TWEET_DELETE

pytestmark = pytest.mark.parametrize("redis", REDIS_MODES, indirect=True)
THRESHOLD = 3


@pytest.fixture(scope="module")
async def hybrid(idle_kit: Any, start_worker: Any) -> AsyncIterator[Any]:
    """The kit with a worker that treats authors of more than THRESHOLD followers as big."""
    worker = idle_kit.settings.feedworker.model_copy(update={"fanout_max_followers": THRESHOLD})
    idle_kit.settings = idle_kit.settings.model_copy(update={"feedworker": worker})
    async with start_worker(idle_kit.settings):
        yield idle_kit


async def count_followers(kit: Any, user_id: str) -> None:
    """The users' follower counter, as users keeps it (follows here are written straight into the table)."""
    async with kit.users_engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE actors SET num_followers = "
                "(SELECT count(*) FROM follows WHERE following_id = actors.id) WHERE id = CAST(:id AS uuid)"
            ),
            {"id": user_id},
        )


async def lists(redis: Redis, keys: list[str]) -> list[list[str]]:
    return [list(await redis.lrange(key, 0, -1)) for key in keys]


async def until(redis: Redis, keys: list[str], expected: list[list[str]]) -> None:
    async def reached() -> bool:
        return await lists(redis, keys) == expected

    await wait_for(reached, timeout=30)


async def test_a_big_authors_tweets_go_to_their_list_and_back_to_followers_when_small(
    hybrid: Any, redis: Redis
) -> None:
    author, *followers = await hybrid.insert_users(6)
    await hybrid.insert_follows(author, followers[:2])
    await count_followers(hybrid, author)
    small_1 = str(uuid7())
    await hybrid.publish_tweet(TWEET_CREATE, small_1, author)
    fed = [feed_key(author), *(feed_key(f) for f in followers[:2])]
    await until(redis, fed, [[small_1]] * 3)

    # Past the threshold: the next tweet stays out of followers' feeds, in the author's list.
    await hybrid.insert_follows(author, followers[2:])
    await count_followers(hybrid, author)
    big_1, big_2 = str(uuid7()), str(uuid7())
    for tweet in (big_1, big_2):
        await hybrid.publish_tweet(TWEET_CREATE, tweet, author)
    await until(redis, [author_feed_key(author)], [[big_2, big_1]])
    await hybrid.wait_until_drained("general_tweets")
    assert await redis.sismember(BIG_AUTHORS_KEY, author)
    assert await lists(redis, [feed_key(f) for f in followers]) == [[small_1]] * 2 + [[]] * 3
    assert await lists(redis, [feed_key(author)]) == [[big_2, big_1, small_1]]

    # A delete leaves the author's list too.
    await hybrid.publish_tweet(TWEET_DELETE, big_2, author)
    await until(redis, [author_feed_key(author)], [[big_1]])

    # Back under the threshold: followers get the list merged in, then the tweet, once each.
    async with hybrid.users_engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM follows WHERE following_id = CAST(:id AS uuid) AND follower_id = ANY(:gone)"),
            {"id": author, "gone": [uuid.UUID(f) for f in followers[3:]]},
        )
    await count_followers(hybrid, author)
    small_2 = str(uuid7())
    await hybrid.publish_tweet(TWEET_CREATE, small_2, author)
    await until(
        redis,
        [feed_key(f) for f in followers[:3]],
        [[small_2, big_1, small_1], [small_2, big_1, small_1], [small_2, big_1]],
    )
    assert not await redis.sismember(BIG_AUTHORS_KEY, author)
    assert not await redis.exists(author_feed_key(author))


async def test_fan_out_skips_inactive_accounts(hybrid: Any, redis: Redis) -> None:
    author, active, gone, never_seen = await hybrid.insert_users(4)
    await hybrid.insert_follows(author, [active, gone, never_seen])
    await count_followers(hybrid, author)
    now = time.time()
    await redis.set(last_seen_key(active), int(now - 3600))
    await redis.set(last_seen_key(gone), int(now - 40 * 86_400))
    tweet = str(uuid7())
    await hybrid.publish_tweet(TWEET_CREATE, tweet, author)
    await until(redis, [feed_key(active), feed_key(never_seen)], [[tweet], [tweet]])
    await hybrid.wait_until_drained("general_tweets")
    assert await lists(redis, [feed_key(gone)]) == [[]]
