"""A feed app whose Redis or tweets service is unreachable answers 503 problem+json, never 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from devtools.testing import StartedService, free_port, started_service
from feed.feedstore import FeedStore
from feed.main import SPEC
from shared.ids import uuid7
from shared.settings import Settings


def with_fresh_ports(settings: Settings, **changes: Any) -> Settings:
    feed = settings.feedservice.model_copy(update={"rest_port": free_port(), "grpc_port": free_port()})
    return settings.model_copy(update={"feedservice": feed, **changes})


@pytest.fixture
async def feed_without_redis(settings: Settings) -> AsyncIterator[StartedService]:
    redis = settings.redis.model_copy(update={"url": f"redis://127.0.0.1:{free_port()}/0"})
    async with started_service(SPEC, with_fresh_ports(settings, redis=redis)) as service:
        yield service


@pytest.fixture
async def feed_without_tweets(settings: Settings) -> AsyncIterator[StartedService]:
    tweets = settings.tweetservice.model_copy(update={"grpc_port": free_port()})
    async with started_service(SPEC, with_fresh_ports(settings, tweetservice=tweets)) as service:
        yield service


async def test_feed_is_503_when_redis_is_unreachable(people: Any, feed_without_redis: StartedService) -> None:
    _, headers = await people.user()
    response = await feed_without_redis.client.get("/feed", headers=headers)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    ready = await feed_without_redis.client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["dependencies"]["redis"] != "ok"
    assert ready.json()["dependencies"]["tweets"] == "ok"


async def test_feed_is_503_when_tweets_is_unreachable(
    people: Any, feed_without_tweets: StartedService, redis: Redis
) -> None:
    user, headers = await people.user()
    await FeedStore(redis).fan_out(uuid7(), [user])  # something to hydrate
    response = await feed_without_tweets.client.get("/feed", headers=headers)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    ready = await feed_without_tweets.client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["dependencies"] == {"redis": "ok", "tweets": ready.json()["dependencies"]["tweets"]}
    assert ready.json()["dependencies"]["tweets"] != "ok"
