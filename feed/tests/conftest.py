"""Fixtures of the feed service's tests: the real users, tweets and feed services, the feed worker
in-process, clean feed keys, and `people`: users with tokens who post and follow."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from devtools.testing import StartedService, delete_feed_keys
from feed_worker.main import run
from shared.auth import TokenCodec
from shared.ids import uuid7
from shared.messaging.topology import QUEUES, declare_topology
from shared.settings import Settings


@pytest.fixture(autouse=True)
async def clean_feeds(redis: Redis) -> AsyncIterator[None]:
    await delete_feed_keys(redis)
    yield
    await delete_feed_keys(redis)


async def purge_feed_queues(settings: Settings) -> None:
    """Events other suites published before this worker ran are not this suite's to handle."""
    connection = await aio_pika.connect_robust(settings.rabbitmq.url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        await declare_topology(channel)
        for name in ("general_tweets", "feed_follows"):
            for queue_name in (name, QUEUES[name].dlq):
                await (await channel.get_queue(queue_name)).purge()


@pytest.fixture(scope="module")
async def feed_worker(redis_settings: Settings) -> AsyncIterator[None]:
    """The feed worker, in-process, for the module (on the Redis the `redis` fixture is)."""
    await purge_feed_queues(redis_settings)
    stop = asyncio.Event()
    task = asyncio.create_task(run(redis_settings, stop), name="feed-worker")
    yield
    stop.set()
    await asyncio.wait_for(task, timeout=15)


class People:
    """Users (written straight into the users database), their tokens, their tweets and follows."""

    def __init__(self, settings: Settings, users: StartedService, tweets: StartedService) -> None:
        self.users = users
        self.tweets = tweets
        self.codec = TokenCodec(settings.jwt)
        self.created: list[uuid.UUID] = []

    async def user(self) -> tuple[str, dict[str, str]]:
        """A new user's id and the Authorization header of its token."""
        user_id = uuid7()
        assert self.users.engine is not None
        async with self.users.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO actors (id, email, email_key, username, password_hash) "
                    "VALUES (:id, :email, :email_key, :name, 'x')"
                ),
                {
                    "id": user_id,
                    "email": f"{user_id.hex}@feed.test",
                    # An email key is the folded address: these are lower-case already.
                    "email_key": f"{user_id.hex}@feed.test",
                    "name": f"f{user_id.hex[-24:]}",
                },
            )
        self.created.append(user_id)
        return str(user_id), {"Authorization": f"Bearer {self.codec.issue(user_id, 'feed-test')}"}

    async def post(self, headers: dict[str, str], content: str = "hello") -> dict[str, Any]:
        response = await self.tweets.client.post("/tweet", json={"content": content}, headers=headers)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def follow(self, headers: dict[str, str], followed_user: str) -> None:
        response = await self.users.client.post(f"/users/{followed_user}/follow", headers=headers)
        assert response.status_code == 201, response.text

    async def delete_created(self) -> None:
        """Remove this module's users, follows and tweets: other suites share the databases."""
        assert self.users.engine is not None and self.tweets.engine is not None
        ids = {"ids": self.created}
        async with self.tweets.engine.begin() as connection:
            await connection.execute(text("DELETE FROM tweets WHERE user_id = ANY(:ids)"), ids)
        async with self.users.engine.begin() as connection:
            await connection.execute(
                text("DELETE FROM follows WHERE follower_id = ANY(:ids) OR following_id = ANY(:ids)"), ids
            )
            await connection.execute(text("DELETE FROM actors WHERE id = ANY(:ids)"), ids)


@pytest.fixture(scope="module")
async def people(
    settings: Settings,
    users_service: StartedService,
    tweets_service: StartedService,
    feed_service: StartedService,
    feed_worker: None,
) -> AsyncIterator[People]:
    value = People(settings, users_service, tweets_service)
    yield value
    await value.delete_created()
