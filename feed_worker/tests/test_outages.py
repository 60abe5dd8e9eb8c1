"""A dependency outage is not the message's fault: the worker keeps the message and retries until
the dependency is back, and nothing is dead-lettered."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from devtools.fixtures import consumer_retries, retried
from devtools.testing import free_port, started_service, wait_for
from feed.entries import feed_key
from shared.ids import uuid7
from shared.messaging.topology import TWEET_CREATE
from users.main import SPEC as USERS_SPEC


async def test_fan_out_waits_out_a_users_outage_and_completes(
    idle_kit: Any, start_worker: Any, redis: Redis
) -> None:
    author, follower = await idle_kit.insert_users(2)
    await idle_kit.insert_follows(author, [follower])
    # This worker reaches users at a port nothing listens on (yet).
    users_down = idle_kit.settings.userservice.model_copy(update={"grpc_port": free_port()})
    settings = idle_kit.settings.model_copy(update={"userservice": users_down})
    tweet = str(uuid7())

    retries = consumer_retries("general_tweets")
    async with start_worker(settings):
        await idle_kit.publish_tweet(TWEET_CREATE, tweet, author)
        # The author's feed is written before the followers are asked for.
        await wait_for(lambda: _equals(redis.lrange(feed_key(author), 0, -1), [tweet]), timeout=30)
        await retried("general_tweets", 2, since=retries)  # the worker met the outage, twice
        depths = await asyncio.to_thread(idle_kit.queue_depths)
        assert (depths["general_tweets"], depths["general_tweets.dlq"]) == (1, 0)
        assert await redis.lrange(feed_key(follower), 0, -1) == []

        # users comes back (a second instance on the port the worker uses, over the same database).
        rest_port = free_port()
        users_up = settings.userservice.model_copy(update={"rest_port": rest_port})
        async with started_service(USERS_SPEC, settings.model_copy(update={"userservice": users_up})):
            await wait_for(lambda: _equals(redis.lrange(feed_key(follower), 0, -1), [tweet]), timeout=30)
            await idle_kit.wait_until_drained("general_tweets")
    assert (await asyncio.to_thread(idle_kit.queue_depths))["general_tweets.dlq"] == 0


async def _equals(actual: Any, expected: list[str]) -> bool:
    return bool(await actual == expected)
