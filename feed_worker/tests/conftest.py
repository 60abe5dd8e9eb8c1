"""Fixtures of the feed worker's tests: clean feed keys, the worker in-process, and a test kit
(publish events, wait until queues drain, write users and follows straight into the users database)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import aio_pika
import orjson
import pytest
import redis as sync_redis
import redis.cluster
from aio_pika.abc import AbstractChannel
from redis.asyncio import Redis, RedisCluster
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.fixtures import amqp_channel, tweet_event, worker_running
from devtools.redis_cluster import settings_for
from devtools.testing import StartedService, delete_feed_keys, vhost_of, wait_for
from feed.feedstore import FeedStore
from feed_worker.main import run
from shared.ids import uuid7
from shared.lifecycle import is_cluster
from shared.messaging.events import TweetEvent, UserFollowEvent
from shared.messaging.topology import QUEUES, TWEET_EVENTS, USER_EVENTS
from shared.settings import Settings
from shared.telemetry import inject_context


@pytest.fixture(autouse=True)
async def clean_feeds(redis: Redis) -> AsyncIterator[None]:
    await delete_feed_keys(redis)
    yield
    await delete_feed_keys(redis)


@pytest.fixture
def store(redis: Redis) -> FeedStore:
    return FeedStore(redis, batch_size=100)


def ids(count: int) -> list[str]:
    """`count` tweet ids, oldest first."""
    return [str(uuid7()) for _ in range(count)]


def sync_client(client: Redis) -> sync_redis.Redis | redis.cluster.RedisCluster:
    """A blocking client of the same Redis, to act from inside a generator the store consumes."""
    if is_cluster(client):
        node = cast(RedisCluster, client).get_default_node()
        return redis.cluster.RedisCluster(host=node.host, port=node.port)
    connection = client.connection_pool.connection_kwargs
    return sync_redis.Redis(host=connection["host"], port=connection["port"], db=connection["db"])


@pytest.fixture(scope="module")
async def amqp(settings: Settings) -> AsyncIterator[AbstractChannel]:
    async with amqp_channel(settings) as channel:
        yield channel


def worker_settings(settings: Settings) -> Settings:
    """Small follower pages, Redis batches and backfills, so paging, batching and the backfill limit
    are exercised with few users."""
    worker = settings.feedworker.model_copy(
        update={"followers_page_size": 250, "redis_batch_size": 100, "backfill_limit": 3}
    )
    return settings.model_copy(update={"feedworker": worker})


@pytest.fixture(scope="module")
def start_worker() -> Any:
    """`async with start_worker(settings):` runs a feed worker for the block."""
    return running_worker


def running_worker(settings: Settings) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
    return worker_running(run, settings, "feed-worker")


class FeedKit:
    """What the worker tests do around the worker: publish its input, inspect the broker, seed data."""

    def __init__(
        self, settings: Settings, channel: AbstractChannel, users: StartedService, tweets: StartedService
    ) -> None:
        self.settings = settings
        self.channel = channel
        self.users = users
        self.tweets = tweets
        self.created_users: list[uuid.UUID] = []

    @property
    def users_engine(self) -> AsyncEngine:
        assert self.users.engine is not None
        return self.users.engine

    async def publish(self, exchange: str, routing_key: str, body: Any, message_id: str = "") -> None:
        """Publish like the outbox relay does: persistent JSON with the trace context in the headers."""
        if hasattr(body, "model_dump"):
            body = body.model_dump(mode="json")
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
        target = await self.channel.get_exchange(exchange)
        message = aio_pika.Message(
            payload,
            headers=inject_context(),
            message_id=message_id or str(uuid7()),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await target.publish(message, routing_key=routing_key)

    @staticmethod
    def tweet_event(event_type: str, tweet_id: str, user_id: str) -> TweetEvent:
        return tweet_event(event_type, tweet_id, user_id)

    async def publish_tweet(self, event_type: str, tweet_id: str, author_id: str) -> None:
        await self.publish(TWEET_EVENTS, event_type, tweet_event(event_type, tweet_id, author_id))

    async def publish_follow(self, event_type: str, follower_id: str, following_id: str) -> None:
        event = UserFollowEvent(
            event_type=event_type,  # type: ignore[arg-type]
            follower_id=uuid.UUID(follower_id),
            following_id=uuid.UUID(following_id),
        )
        await self.publish(USER_EVENTS, event_type, event)

    def queue_depths(self) -> dict[str, int]:
        """Messages ready or unacknowledged per queue of the test vhost (what is still to be handled)."""
        output = subprocess.run(
            [
                "rabbitmqctl",
                "-q",
                "list_queues",
                "-p",
                vhost_of(self.settings),
                "name",
                "messages",
                "--no-table-headers",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        rows = (line.split() for line in output.splitlines() if line.strip())
        return {name: int(count) for name, count in rows}

    async def wait_until_drained(self, *queues: str, timeout: float = 30.0) -> None:
        """Until every message published to `queues` so far was handled (acked or dead-lettered)."""

        async def drained() -> bool:
            depths = await asyncio.to_thread(self.queue_depths)
            return all(depths.get(queue, 0) == 0 for queue in queues)

        await wait_for(drained, timeout=timeout, interval=0.2)

    async def purge_feed_queues(self) -> None:
        """Events other suites published before this worker ran are not this suite's to handle."""
        for name in ("general_tweets", "feed_follows"):
            spec = QUEUES[name]
            for queue_name in (spec.name, spec.dlq):
                queue = await self.channel.get_queue(queue_name)
                await queue.purge()

    async def insert_users(self, count: int) -> list[str]:
        """`count` users written straight into the users database (no password hashing, no events)."""
        ids = [uuid7() for _ in range(count)]
        rows = [
            {
                "id": i,
                "email": f"{i.hex}@feed.test",
                "email_key": f"{i.hex}@feed.test",
                "username": f"f{i.hex[-24:]}",
            }
            for i in ids
        ]
        async with self.users_engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO actors (id, email, email_key, username, password_hash) "
                    "VALUES (:id, :email, :email_key, :username, 'x')"
                ),
                rows,
            )
        self.created_users.extend(ids)
        return [str(i) for i in ids]

    async def delete_created(self) -> None:
        """Remove the users this kit made, their follows and their tweets: other suites share the databases."""
        assert self.users.engine is not None and self.tweets.engine is not None
        async with self.tweets.engine.begin() as connection:
            await connection.execute(
                text("DELETE FROM tweets WHERE user_id = ANY(:ids)"), {"ids": self.created_users}
            )
        async with self.users.engine.begin() as connection:
            await connection.execute(
                text("DELETE FROM follows WHERE follower_id = ANY(:ids) OR following_id = ANY(:ids)"),
                {"ids": self.created_users},
            )
            await connection.execute(
                text("DELETE FROM actors WHERE id = ANY(:ids)"), {"ids": self.created_users}
            )

    async def insert_follows(self, followed_user: str, followers: list[str]) -> None:
        """Follow rows written straight into the users database: no user.follow events, so no backfill."""
        rows = [{"follower": uuid.UUID(f), "followed_user": uuid.UUID(followed_user)} for f in followers]
        async with self.users_engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO follows (follower_id, following_id) VALUES (:follower, :followed_user)"),
                rows,
            )


@pytest.fixture(scope="module")
async def idle_kit(
    settings: Settings,
    amqp: AbstractChannel,
    users_service: StartedService,
    tweets_service: StartedService,
    redis: Redis,
) -> AsyncIterator[FeedKit]:
    """The kit without a worker (a test starts its own), on the Redis (server or cluster) that the
    `redis` fixture is; the users (and their follows and tweets) the module made are removed at its end."""
    value = FeedKit(worker_settings(settings_for(settings, redis)), amqp, users_service, tweets_service)
    await value.purge_feed_queues()
    yield value
    await value.delete_created()


@pytest.fixture(scope="module")
async def kit(idle_kit: FeedKit) -> AsyncIterator[FeedKit]:
    """The kit, with the feed worker running in-process against the real users and tweets services."""
    async with running_worker(idle_kit.settings):
        yield idle_kit
