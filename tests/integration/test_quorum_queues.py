"""`[RabbitMQ] queue_type = "quorum"` on the local node (a vhost of its own): every queue and DLQ is a
quorum queue, and with two feed workers and two search workers competing for the same queues, tweets
created, edited and deleted end in the state their last event says, per author."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import text

from devtools.testing import StartedService, create_vhost, delete_feed_keys, delete_vhost, wait_for
from feed.entries import feed_key
from feed_worker.main import run as run_feed_worker
from search.backends import create_backend
from search_worker.main import run as run_search_worker
from shared.ids import uuid7
from shared.messaging.events import TweetEvent
from shared.messaging.topology import (
    QUEUES,
    TWEET_CREATE,
    TWEET_DELETE,
    TWEET_EVENTS,
    TWEET_UPDATE,
    declare_topology,
)
from shared.settings import Settings

AUTHORS = 4
TWEETS_PER_AUTHOR = 6
FOLLOWERS_PER_AUTHOR = 3


@pytest.fixture(scope="module")
def quorum_settings(settings: Settings) -> Iterator[Settings]:
    vhost = f"test_quorum_{secrets.token_hex(4)}"
    create_vhost(vhost)
    amqp = urllib.parse.urlsplit(settings.rabbitmq.url.get_secret_value())
    url = urllib.parse.urlunsplit((amqp.scheme, amqp.netloc, "/" + vhost, "", ""))
    rabbitmq = settings.rabbitmq.model_copy(update={"url": SecretStr(url), "queue_type": "quorum"})
    yield settings.model_copy(update={"rabbitmq": rabbitmq})
    delete_vhost(vhost)


def queue_rows(settings: Settings, *columns: str) -> list[list[str]]:
    vhost = urllib.parse.urlsplit(settings.rabbitmq.url.get_secret_value()).path.lstrip("/")
    output = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", *columns, "--no-table-headers"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [line.split() for line in output.splitlines() if line.strip()]


@contextlib.asynccontextmanager
async def workers(settings: Settings) -> AsyncIterator[None]:
    """Two feed workers and two search workers, in-process, on the same queues."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(run(settings, stop))
        for run in (run_feed_worker, run_feed_worker, run_search_worker, run_search_worker)
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)


async def insert_users(users: StartedService, count: int) -> list[uuid.UUID]:
    ids = [uuid7() for _ in range(count)]
    assert users.engine is not None
    async with users.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO actors (id, email, email_key, username, password_hash)"
                " VALUES (:id, :email, :email_key, :name, 'x')"
            ),
            [
                {
                    "id": i,
                    "email": f"{i.hex}@quorum.test",
                    "email_key": f"{i.hex}@quorum.test",
                    "name": f"q{i.hex[-24:]}",
                }
                for i in ids
            ],
        )
    return ids


async def test_competing_workers_on_quorum_queues_reach_the_last_state_of_every_tweet(
    quorum_settings: Settings,
    users_service: StartedService,
    search_service: StartedService,
    redis: Redis,
) -> None:
    settings = quorum_settings
    connection = await aio_pika.connect(settings.rabbitmq.url.get_secret_value())
    channel = await connection.channel(publisher_confirms=True)
    await declare_topology(channel, "quorum")
    assert {row[0] for row in queue_rows(settings)} >= {*QUEUES, *(spec.dlq for spec in QUEUES.values())}
    assert {row[1] for row in queue_rows(settings, "type")} == {"quorum"}

    people = await insert_users(users_service, AUTHORS * (1 + FOLLOWERS_PER_AUTHOR))
    authors, followers = people[:AUTHORS], people[AUTHORS:]
    audience = {a: followers[i::AUTHORS] for i, a in enumerate(authors)}
    assert users_service.engine is not None
    async with users_service.engine.begin() as db:
        await db.execute(
            text("INSERT INTO follows (follower_id, following_id) VALUES (:follower, :author)"),
            [{"follower": f, "author": a} for a, fs in audience.items() for f in fs],
        )
    tag = f"quorum{secrets.token_hex(4)}"
    exchange = await channel.get_exchange(TWEET_EVENTS)
    expected: dict[uuid.UUID, dict[uuid.UUID, str]] = {}  # author -> surviving tweet -> last content
    try:
        async with workers(settings):
            # Per author, as the outbox relay publishes: create, then edits and deletes, in order.
            # The authors' streams interleave, and two consumers per queue take them concurrently.
            start = datetime.now(UTC)
            streams: list[list[TweetEvent]] = []
            for author in authors:
                events: list[TweetEvent] = []
                survivors: dict[uuid.UUID, str] = {}
                for n in range(TWEETS_PER_AUTHOR):
                    tweet, created = uuid7(), start + timedelta(milliseconds=n)
                    versions = [(TWEET_CREATE, f"{tag} first {n}")]
                    if n % 3 == 1:
                        versions += [(TWEET_UPDATE, f"{tag} second {n}"), (TWEET_UPDATE, f"{tag} third {n}")]
                    if n % 3 == 2:
                        versions += [(TWEET_DELETE, f"{tag} first {n}")]
                    for step, (kind, content) in enumerate(versions):
                        events.append(
                            TweetEvent(
                                event_type=kind,  # type: ignore[arg-type]
                                tweet_id=tweet,
                                user_id=author,
                                content=content,
                                created_at=created,
                                updated_at=created + timedelta(seconds=step),
                            )
                        )
                    if versions[-1][0] != TWEET_DELETE:
                        survivors[tweet] = versions[-1][1]
                streams.append(events)
                expected[author] = survivors
            for round_ in range(max(map(len, streams))):
                for events in streams:
                    if round_ < len(events):
                        event = events[round_]
                        body = event.model_dump_json().encode()
                        await exchange.publish(
                            aio_pika.Message(
                                body, message_id=str(event.event_id), content_type="application/json"
                            ),
                            routing_key=event.event_type,
                        )

            async def drained() -> bool:
                rows = await asyncio.to_thread(queue_rows, settings, "messages")
                return all(int(count) == 0 for _, count in rows)

            await wait_for(drained, timeout=60, interval=0.2)

        for author, survivors in expected.items():
            newest_first = sorted(map(str, survivors), reverse=True)
            for reader in [author, *audience[author]]:
                assert await redis.lrange(feed_key(reader), 0, -1) == newest_first
        backend = create_backend(settings)
        try:
            for author, survivors in expected.items():
                hits, total = await backend.search(tag, user_id=author, limit=50)
                assert {hit.id: hit.content for hit in hits} == survivors
                assert total == len(survivors)
        finally:
            await backend.close()
    finally:
        await connection.close()
        await delete_feed_keys(redis)
        async with users_service.engine.begin() as db:
            ids = {"ids": people}
            await db.execute(
                text("DELETE FROM follows WHERE follower_id = ANY(:ids) OR following_id = ANY(:ids)"), ids
            )
            await db.execute(text("DELETE FROM actors WHERE id = ANY(:ids)"), ids)
