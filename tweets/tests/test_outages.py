"""Writes never wait on RabbitMQ, Redis or users (a like, repost or reply skips its block check while
users is down; feeds and notifications still hide blocked accounts): the outbox delivers once they are
back (events exactly once, the author's num_tweets converges), and the rate limiter fails open.

These tests run a second tweets instance (own database) whose dependencies sit behind proxies
that a test cuts and restores; the shared services keep serving every other test."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.fixtures import AccountFactory
from devtools.testing import Account, StartedService, assert_problem, wait_for
from fleet_proto import user_service_pb2 as users_pb
from tweets.author_counters import DESTINATION as USER_COUNTERS

Post = Callable[..., Awaitable[dict[str, Any]]]


async def _num_tweets(users_grpc: Any, account: Account) -> int:
    reply = await users_grpc.GetUser(users_pb.GetUserRequest(user_id=str(account.id)), timeout=2)
    return int(reply.num_tweets)


async def _outbox(engine: AsyncEngine, destination: str) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT id, attempts, published_at FROM outbox WHERE destination = :d ORDER BY id"),
            {"d": destination},
        )
        return [dict(row) for row in rows.mappings()]


async def test_writes_succeed_quickly_while_users_rabbitmq_and_redis_are_down(
    proxied_tweets: Any, alice: Account, bob: Account
) -> None:
    async with proxied_tweets() as tweets:
        for proxy in (tweets.users, tweets.rabbitmq, tweets.redis):
            await proxy.stop()
        client: httpx.AsyncClient = tweets.service.client

        started = time.monotonic()
        created = await client.post("/tweet", json={"content": "still works"}, headers=alice.headers)
        tweet_id = created.json()["id"]
        liked = await client.post(f"/tweet/like/{tweet_id}", headers=bob.headers)
        edited = await client.patch(f"/tweet/{tweet_id}", json={"content": "edited"}, headers=alice.headers)
        deleted = await client.delete(f"/tweet/{tweet_id}", headers=alice.headers)
        elapsed = time.monotonic() - started

        assert [r.status_code for r in (created, liked, edited, deleted)] == [201, 201, 200, 204]
        # Answered as items all the same; names of authors not cached are left out meanwhile.
        assert {created.json()["author"]["id"], edited.json()["author"]["id"]} == {str(alice.id)}
        assert liked.json()["tweet"]["liked_by_me"] is True
        assert elapsed < 5, f"writes took {elapsed:.1f}s with dependencies down"
        ready = assert_problem(await client.get("/ready"), 503)
        assert ready["dependencies"]["postgresql"] == "ok"
        assert ready["dependencies"]["rabbitmq"] != "ok" and ready["dependencies"]["redis"] != "ok"

        # /ready also says that the relays cannot deliver what the writes left in the outbox.
        async def relays_retrying() -> bool:
            background = (await client.get("/ready")).json()["background"]
            return all(background[f"outbox.{name}"] == "retrying" for name in ("rabbitmq", USER_COUNTERS))

        await wait_for(relays_retrying, timeout=20)


async def test_ready_checks_postgresql_rabbitmq_and_redis(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json()["dependencies"] == {"postgresql": "ok", "rabbitmq": "ok", "redis": "ok"}
    # One process: its relays lead (hold their destinations' locks) and deliver.
    assert response.json()["background"] == {
        "outbox.rabbitmq": "delivering",
        f"outbox.{USER_COUNTERS}": "delivering",
    }
    assert (await client.get("/health")).status_code == 200
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/tweet", "/tweet/{tweet_id}", "/tweet/like", "/tweet/repost/{tweet_id}"} <= set(paths)


async def test_events_written_while_the_broker_was_down_arrive_exactly_once(
    proxied_tweets: Any, alice: Account, tweet_events: Any
) -> None:
    async with proxied_tweets() as tweets:
        client: httpx.AsyncClient = tweets.service.client
        await tweets.rabbitmq.stop()

        created = [
            (await client.post("/tweet", json={"content": f"t{i}"}, headers=alice.headers)).json()
            for i in range(3)
        ]
        await client.patch(f"/tweet/{created[0]['id']}", json={"content": "t0 edited"}, headers=alice.headers)
        await client.delete(f"/tweet/{created[1]['id']}", headers=alice.headers)

        # The relay keeps trying, and nothing leaks out while the broker is unreachable.
        await wait_for(lambda: _tried_and_pending(tweets.engine, "rabbitmq", 5), timeout=15)

        await tweets.rabbitmq.start()
        messages = await tweet_events.until_sentinel(client, alice)

        keys = sorted((m.routing_key, tweet_events.body(m)["tweet_id"]) for m in messages)
        assert keys == sorted(
            [
                *(("tweet.create", t["id"]) for t in created),
                ("tweet.update", created[0]["id"]),
                ("tweet.delete", created[1]["id"]),
            ]
        ), "every event exactly once"
        assert all(row["published_at"] is not None for row in await _outbox(tweets.engine, "rabbitmq"))


async def _tried_and_pending(engine: AsyncEngine, destination: str, expected: int) -> bool:
    rows = await _outbox(engine, destination)
    return len(rows) == expected and all(r["published_at"] is None and r["attempts"] > 0 for r in rows)


async def test_num_tweets_converges_after_users_was_unreachable(
    proxied_tweets: Any, accounts: AccountFactory, users_grpc: Any, finished_spans: InMemorySpanExporter
) -> None:
    alice = await accounts()
    async with proxied_tweets() as tweets:
        client: httpx.AsyncClient = tweets.service.client
        await tweets.users.stop()

        ids = [
            (await client.post("/tweet", json={"content": f"t{i}"}, headers=alice.headers)).json()["id"]
            for i in range(3)
        ]
        assert (await client.delete(f"/tweet/{ids[0]}", headers=alice.headers)).status_code == 204

        # The increments stay pending (tried, failed) and users has not counted anything yet.
        await wait_for(lambda: _tried_and_pending(tweets.engine, USER_COUNTERS, 4), timeout=15)
        assert await _num_tweets(users_grpc, alice) == 0

        await tweets.users.start()
        await wait_for(lambda: _num_tweets_is(users_grpc, alice, 2), timeout=30)
        # Published means counted by users (the row is marked after the call returned): nothing
        # more can come to change the count.
        await wait_for(lambda: _all_published(tweets.engine, USER_COUNTERS), timeout=10)
        assert await _num_tweets(users_grpc, alice) == 2
        # The four pending changes reached users as one batch: one call, one transaction.
        calls = [
            span.name
            for span in finished_spans.get_finished_spans()
            if span.kind == SpanKind.SERVER and span.name.startswith("/user_service.User/Increment")
        ]
        assert calls == ["/user_service.User/IncrementTweetsBatch"]


async def _num_tweets_is(users_grpc: Any, account: Account, expected: int) -> bool:
    return await _num_tweets(users_grpc, account) == expected


async def _all_published(engine: AsyncEngine, destination: str) -> bool:
    return all(row["published_at"] is not None for row in await _outbox(engine, destination))


async def test_a_redelivered_increment_is_counted_once(
    client: httpx.AsyncClient, tweets_service: StartedService, accounts: AccountFactory, users_grpc: Any
) -> None:
    alice = await accounts()
    await client.post("/tweet", json={"content": "counted once"}, headers=alice.headers)
    assert tweets_service.engine is not None
    engine = tweets_service.engine
    await wait_for(lambda: _num_tweets_is(users_grpc, alice, 1))
    await wait_for(lambda: _all_published(engine, USER_COUNTERS))

    # As if the relay had crashed after users applied the change but before marking the row sent.
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE outbox SET published_at = NULL WHERE destination = :d"), {"d": USER_COUNTERS}
        )
        await connection.execute(text("SELECT pg_notify('outbox', :d)"), {"d": USER_COUNTERS})
    await wait_for(lambda: _all_published(engine, USER_COUNTERS))

    assert await _num_tweets(users_grpc, alice) == 1


async def test_writes_are_rate_limited_per_user_and_reads_are_not(
    proxied_tweets: Any, alice: Account, bob: Account, redis: Redis
) -> None:
    for account in (alice, bob):  # forget their writes in earlier tests of this module
        keys = [key async for key in redis.scan_iter(match=f"ratelimit:writes:{account.id}:*")]
        if keys:
            await redis.delete(*keys)
    async with proxied_tweets(writes_per_minute=3) as tweets:
        client: httpx.AsyncClient = tweets.service.client
        # 3 per minute: even if a new minute window starts midway, one of 7 writes is refused.
        statuses = []
        for i in range(7):
            response = await client.post("/tweet", json={"content": f"t{i}"}, headers=alice.headers)
            statuses.append(response.status_code)
            if response.status_code == 429:
                body = assert_problem(response, 429)
                assert int(response.headers["retry-after"]) >= 1
                assert "writes" in body["detail"]
                break
        assert statuses[-1] == 429 and set(statuses[:-1]) == {201}

        assert (await client.get(f"/tweet/user/{alice.id}")).status_code == 200
        other = await client.post("/tweet", json={"content": "bob is not limited"}, headers=bob.headers)
        assert other.status_code == 201
