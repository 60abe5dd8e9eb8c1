"""Scripted baselines: the same end effect as a fleet path, done by one bare script.

- publish: raw windowed, publisher-confirmed, persistent publishing (what the outbox relay ends in).
- tweet_to_feed: confirmed publish -> consume -> follower ids by SQL -> pipelined LPUSH+LTRIM on every
  follower's list; latency from the publish to the last list written.
- search_lag: confirmed publish -> consume -> INSERT into the search table -> the first query that
  finds it; latency from the publish to that query's answer, polled as often as the fleet's is.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import orjson
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from bench import resp
from bench.stats import latency_summary

EVENT_PADDING = "x" * 200  # a tweet event body is ~350 bytes of JSON


@contextlib.asynccontextmanager
async def confirmed_channel(url: str) -> AsyncIterator[AbstractChannel]:
    connection = await aio_pika.connect_robust(url)
    try:
        yield await connection.channel(publisher_confirms=True)
    finally:
        await connection.close()


def event_body(index: int) -> bytes:
    return orjson.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "tweet.create",
            "tweet_id": str(uuid.uuid4()),
            "user_id": str(uuid.uuid4()),
            "content": f"{index} {EVENT_PADDING}",
            "created_at": datetime.now(UTC).isoformat(),
            "updated_at": datetime.now(UTC).isoformat(),
        }
    )


async def publish(task: dict[str, Any]) -> dict[str, Any]:
    """Publish `messages` events through a fanout exchange into two durable queues (like tweet_events
    into general_tweets and search_tweets), with at most `window` confirms outstanding."""
    name = f"bench.publish.{secrets.token_hex(4)}"
    count, window = int(task["messages"]), int(task["window"])
    bodies = [event_body(index) for index in range(count)]
    async with confirmed_channel(task["amqp_url"]) as channel:
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.FANOUT, durable=True)
        queues = [await channel.declare_queue(f"{name}.{index}", durable=True) for index in range(2)]
        for queue in queues:
            await queue.bind(exchange)
        slots = asyncio.Semaphore(window)

        async def one(body: bytes) -> None:
            try:
                message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
                await exchange.publish(message, routing_key="")
            finally:
                slots.release()

        started, cpu_before = time.perf_counter(), _cpu_seconds()
        tasks = []
        for body in bodies:
            await slots.acquire()
            tasks.append(asyncio.create_task(one(body)))
        await asyncio.gather(*tasks)
        elapsed, cpu_used = time.perf_counter() - started, _cpu_seconds() - cpu_before
        for queue in queues:
            await queue.delete(if_unused=False, if_empty=False)
        await exchange.delete()
    return {
        "messages": count,
        "window": window,
        "seconds": round(elapsed, 4),
        "rate": count / elapsed,
        "cpu_ms_per_message": 1000 * cpu_used / count,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Roundtrip:
    """A scratch queue on which this script publishes and consumes its own messages."""

    def __init__(self, channel: AbstractChannel, queue: AbstractQueue) -> None:
        self.channel = channel
        self.queue = queue

    async def publish(self, body: bytes) -> None:
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await self.channel.default_exchange.publish(message, routing_key=self.queue.name)


@contextlib.asynccontextmanager
async def roundtrip(
    url: str, handle: Callable[[dict[str, Any]], Awaitable[None]]
) -> AsyncIterator[_Roundtrip]:
    connection = await aio_pika.connect_robust(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(f"bench.bare.{secrets.token_hex(4)}", durable=True)

        async def on_message(message: AbstractIncomingMessage) -> None:
            await handle(orjson.loads(message.body))
            await message.ack()

        consumer_channel = await connection.channel()
        await consumer_channel.set_qos(prefetch_count=32)
        consumer_queue = await consumer_channel.get_queue(queue.name)
        tag = await consumer_queue.consume(on_message)
        try:
            yield _Roundtrip(channel, queue)
        finally:
            await consumer_queue.cancel(tag)
            await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()


async def tweet_to_feed(task: dict[str, Any]) -> dict[str, Any]:
    users = await asyncpg.connect(task["users_dsn"])
    pipe = await resp.RawRedis.connect(task["redis_url"])
    keep = int(task.get("feed_length", 1000))
    done: dict[str, asyncio.Future[float]] = {}
    written_keys: set[bytes] = set()

    async def handle(event: dict[str, Any]) -> None:
        rows = await users.fetch(
            "SELECT follower_id FROM follows WHERE following_id = $1", uuid.UUID(event["user_id"])
        )
        keys = [f"benchbare:feed:{row['follower_id']}".encode() for row in rows]
        keys.append(f"benchbare:feed:{event['user_id']}".encode())
        written_keys.update(keys)
        payload, replies = resp.push_and_trim(keys, event["tweet_id"].encode(), keep)
        await pipe.send(payload, replies)
        done[event["tweet_id"]].set_result(time.perf_counter())

    latencies = []
    try:
        async with roundtrip(task["amqp_url"], handle) as trip:
            for _ in range(int(task["samples"])):
                tweet_id = str(uuid.uuid4())
                done[tweet_id] = asyncio.get_running_loop().create_future()
                started = time.perf_counter()
                await trip.publish(orjson.dumps({"tweet_id": tweet_id, "user_id": task["author"]}))
                latencies.append(await asyncio.wait_for(done[tweet_id], 30) - started)
                await asyncio.sleep(float(task.get("gap_seconds", 0.05)))
    finally:
        for batch in _chunks(sorted(written_keys), 1000):
            await pipe.send(resp.command(b"UNLINK", *batch), 1)
        await pipe.close()
        await users.close()
    return {"samples": len(latencies), "latency_ms": latency_summary(latencies), "raw_ms": _ms(latencies)}


async def search_lag(task: dict[str, Any]) -> dict[str, Any]:
    search = await asyncpg.connect(task["search_dsn"])
    poll = await asyncpg.connect(task["search_dsn"])
    interval = float(task.get("poll_seconds", 0.005))
    inserted: list[uuid.UUID] = []

    async def handle(event: dict[str, Any]) -> None:
        tweet_id = uuid.UUID(event["tweet_id"])
        now = datetime.now(UTC)
        await search.execute(
            "INSERT INTO documents (id, user_id, content, created_at, version, deleted) "
            "VALUES ($1, $2, $3, $4, $5, false) ON CONFLICT (id) DO NOTHING",
            tweet_id,
            uuid.UUID(event["user_id"]),
            event["content"],
            now,
            int(now.timestamp() * 1_000_000),
        )
        inserted.append(tweet_id)

    # No LIMIT: with one, the planner expects an early hit and scans the whole table sequentially
    # for a word that is not there yet (~30 ms on 100,000 rows) instead of asking the GIN index.
    found_query = (
        "SELECT id FROM documents WHERE tsv @@ websearch_to_tsquery('english'::regconfig, $1) AND NOT deleted"
    )
    latencies = []
    try:
        async with roundtrip(task["amqp_url"], handle) as trip:
            for word in task["words"]:
                started = time.perf_counter()
                body = {"tweet_id": str(uuid.uuid4()), "user_id": task["author"], "content": f"probe {word}"}
                # The broker's confirm (an fsync away) is not on the consumer's path: poll meanwhile.
                published = asyncio.create_task(trip.publish(orjson.dumps(body)))
                deadline = started + 30
                while await poll.fetchval(found_query, word) is None:
                    if time.perf_counter() > deadline:
                        raise TimeoutError(f"probe {word} never became searchable")
                    await asyncio.sleep(interval)
                latencies.append(time.perf_counter() - started)
                await published
                await asyncio.sleep(float(task.get("gap_seconds", 0.05)))
    finally:
        await search.execute("DELETE FROM documents WHERE id = ANY($1::uuid[])", inserted)
        await search.close()
        await poll.close()
    return {"samples": len(latencies), "latency_ms": latency_summary(latencies), "raw_ms": _ms(latencies)}


async def search_lag_elasticsearch(task: dict[str, Any]) -> dict[str, Any]:
    """The search-lag baseline on Elasticsearch: index the document (no forced refresh, like a bulk
    write) and poll a match query on the same index until it is found."""
    import httpx

    base = f"{task['elasticsearch_url'].rstrip('/')}/{task['index']}"
    interval = float(task.get("poll_seconds", 0.005))
    async with httpx.AsyncClient(timeout=10) as client:
        written: list[str] = []

        async def handle(event: dict[str, Any]) -> None:
            document = {
                "user_id": event["user_id"],
                "content": event["content"],
                "created_at": datetime.now(UTC).isoformat(),
                "deleted": False,
            }
            (await client.put(f"{base}/_doc/{event['tweet_id']}", json=document)).raise_for_status()
            written.append(event["tweet_id"])

        latencies = []
        try:
            async with roundtrip(task["amqp_url"], handle) as trip:
                for word in task["words"]:
                    started = time.perf_counter()
                    body = {
                        "tweet_id": str(uuid.uuid4()),
                        "user_id": task["author"],
                        "content": f"probe {word}",
                    }
                    published = asyncio.create_task(trip.publish(orjson.dumps(body)))
                    query = {"query": {"match": {"content": word}}, "size": 1}
                    while not (await client.post(f"{base}/_search", json=query)).json()["hits"]["hits"]:
                        if time.perf_counter() - started > 30:
                            raise TimeoutError(f"probe {word} never became searchable")
                        await asyncio.sleep(interval)
                    latencies.append(time.perf_counter() - started)
                    await published
                    await asyncio.sleep(float(task.get("gap_seconds", 0.05)))
        finally:
            for tweet_id in written:
                await client.delete(f"{base}/_doc/{tweet_id}")
    return {"samples": len(latencies), "latency_ms": latency_summary(latencies), "raw_ms": _ms(latencies)}


def _chunks(items: list[bytes], size: int) -> list[list[bytes]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _ms(values: list[float]) -> list[float]:
    return [round(value * 1000, 3) for value in values]
