"""The baselines' operations: what each request does, minus the services (no HTTP, gRPC, ORM, JSON).

- feed: LRANGE feed:<user> 0 19, then ONE batched SELECT ... WHERE id = ANY($1) (asyncpg), in feed order.
- timeline: the count and the newest 20 tweets of a user (the two queries the page needs).
- post: INSERT a tweet into a scratch table and a publisher-confirmed persistent publish to a scratch
  queue (the outbox's end effect, without the outbox).
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import orjson
from redis.asyncio import Redis

from bench.driver import Mix, WeightedOperation
from bench.words import sentence

HYDRATE = (
    "SELECT id, user_id, content, num_likes, num_replys, num_reposts, created_at, updated_at "
    "FROM tweets WHERE id = ANY($1::uuid[])"
)
TIMELINE_COUNT = "SELECT count(*) FROM tweets WHERE user_id = $1"
TIMELINE_PAGE = (
    "SELECT id, user_id, content, num_likes, num_replys, num_reposts, created_at, updated_at "
    "FROM tweets WHERE user_id = $1 ORDER BY id DESC LIMIT 20"
)
SCRATCH_TABLE = "bench_bare_tweets"
INSERT_SCRATCH = (
    f"INSERT INTO {SCRATCH_TABLE} (id, user_id, content, num_likes, num_replys, num_reposts, "
    "created_at, updated_at) VALUES ($1, $2, $3, 0, 0, 0, $4, $4)"
)


@contextlib.asynccontextmanager
async def bare_clients(
    task: Mapping[str, Any], pool_size: int
) -> AsyncIterator[tuple[Redis, asyncpg.Pool, aio_pika.abc.AbstractChannel | None]]:
    redis = Redis.from_url(task["redis_url"], decode_responses=True, max_connections=max(pool_size, 8))
    pool = await asyncpg.create_pool(task["tweets_dsn"], min_size=1, max_size=pool_size)
    connection = None
    channel = None
    try:
        if task.get("amqp_url"):
            connection = await aio_pika.connect_robust(task["amqp_url"])
            channel = await connection.channel(publisher_confirms=True)
        yield redis, pool, channel
    finally:
        if connection is not None:
            await connection.close()
        await pool.close()
        await redis.aclose()


def bare_mix(
    redis: Redis,
    pool: asyncpg.Pool,
    channel: aio_pika.abc.AbstractChannel | None,
    scratch_queue: str,
    plan: Mapping[str, Any],
) -> Mix:
    readers: list[str] = plan["readers"]
    timeline_users: list[str] = plan["timeline_users"]
    pick = random.Random()

    async def feed() -> bool:
        ids = await redis.lrange(f"feed:{pick.choice(readers)}", 0, 19)
        if ids:
            rows = await pool.fetch(HYDRATE, ids)
            by_id = {str(row["id"]): row for row in rows}
            _ordered = [by_id[tweet_id] for tweet_id in ids if tweet_id in by_id]
        return True

    async def timeline() -> bool:
        user = uuid.UUID(pick.choice(timeline_users))
        async with pool.acquire() as connection:
            await connection.fetchval(TIMELINE_COUNT, user)
            await connection.fetch(TIMELINE_PAGE, user)
        return True

    async def post() -> bool:
        assert channel is not None
        tweet_id, author = uuid.uuid4(), uuid.UUID(pick.choice(readers))
        content = sentence(pick, 8, 20)
        now = datetime.now(UTC)
        await pool.execute(INSERT_SCRATCH, tweet_id, author, content, now)
        body = orjson.dumps({"tweet_id": str(tweet_id), "user_id": str(author), "content": content})
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await channel.default_exchange.publish(message, routing_key=scratch_queue)
        return True

    runs = {"feed": feed, "timeline": timeline, "post": post}
    weights: Mapping[str, float] = plan["weights"]
    return Mix([WeightedOperation(kind, float(weight), runs[kind]) for kind, weight in weights.items()])
