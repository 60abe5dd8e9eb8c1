"""What every test suite needs, defined once: accounts, "the outbox is drained", queue purges, a
broker channel, a worker running in-process, the tweet events the workers consume.

The suites' conftests build their pytest fixtures from these (they differ in scope only).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel
from prometheus_client import REGISTRY
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.fleet import Fleet
from devtools.testing import Account, StartedService, register_and_login, settings_env, wait_for
from shared.db.migrations import drop_database
from shared.messaging.events import TweetEvent
from shared.messaging.topology import QUEUES, declare_topology
from shared.settings import Settings

# The repository checkout (the dev package is installed editable from it).
REPO_ROOT = Path(__file__).resolve().parents[3]

AccountFactory = Callable[[], Awaitable[Account]]
# A worker's entry coroutine: runs until the event is set (feed_worker, search_worker and
# notification_worker's `run`).
WorkerMain = Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]


def engine_of(service: StartedService) -> AsyncEngine:
    """The engine of a service that owns a database (users, tweets)."""
    assert service.engine is not None, f"{service.spec.name} has no database"
    return service.engine


async def pending_outbox_rows(engine: AsyncEngine, destination: str | None = None) -> int:
    """Outbox rows still to publish (parked rows are not: they wait for an operator)."""
    query = "SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NULL"
    if destination is not None:
        query += " AND destination = :destination"
    async with engine.connect() as connection:
        return int((await connection.execute(text(query), {"destination": destination})).scalar_one())


async def outbox_drained(engine: AsyncEngine, timeout: float = 10.0) -> None:
    """Wait until the relays have published every row; a timeout fails the test (a cleanup that
    gives up silently would hand this test's late events to the next one)."""

    async def drained() -> bool:
        return await pending_outbox_rows(engine) == 0

    await wait_for(drained, timeout=timeout)


async def purge_queues(settings: Settings, names: Iterable[str], *, dead_letters: bool = True) -> None:
    """Empty these queues (and their dead-letter queues): events a suite left behind are not the
    next suite's workers' to handle."""
    connection = await aio_pika.connect(settings.rabbitmq.url.get_secret_value())
    try:
        channel = await connection.channel()
        await declare_topology(channel, settings.rabbitmq.queue_type)
        for name in names:
            for queue in (name, QUEUES[name].dlq) if dead_letters else (name,):
                await (await channel.declare_queue(queue, passive=True)).purge()
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def registered_accounts(users_service: StartedService) -> AsyncIterator[AccountFactory]:
    """`await register()` makes a real account (a real token from users); they are deleted after."""
    created: list[Account] = []

    async def register() -> Account:
        account = await register_and_login(users_service.client)
        created.append(account)
        return account

    yield register
    if created:
        async with engine_of(users_service).begin() as connection:
            await connection.execute(
                text("DELETE FROM actors WHERE id = ANY(:ids)"), {"ids": [a.id for a in created]}
            )


# The fields every tweet object carries (REST tweets, feed items); suites add their item fields.
TWEET_FIELDS = frozenset(
    {
        "id",
        "user_id",
        "content",
        "num_likes",
        "num_replys",
        "num_reposts",
        "created_at",
        "updated_at",
        "entities",
    }
)


@contextlib.asynccontextmanager
async def running_fleet(settings: Settings) -> AsyncIterator[Fleet]:
    """The whole fleet as real processes (make run's supervisor), migrated and ready; stopped and its
    databases dropped afterwards."""
    running = Fleet(settings, env=settings_env(settings), log_prefix=True)
    await running.migrate()
    await running.start()
    try:
        await running.wait_ready(timeout=90)
        yield running
    finally:
        await running.stop()
        await drop_service_databases(settings)


async def drop_service_databases(settings: Settings) -> None:
    """Drop the databases the services of these settings made (best effort: a test run's own names)."""
    for section in (
        settings.userservice,
        settings.tweetservice,
        settings.searchservice,
        settings.notificationservice,
    ):
        with contextlib.suppress(Exception):
            await drop_database(settings.database, section.database)


@contextlib.asynccontextmanager
async def amqp_channel(settings: Settings) -> AsyncIterator[AbstractChannel]:
    """A channel with publisher confirms on the run's vhost, the topology declared. Not a robust
    connection: its channels answer passive declares from a cache (stale queue counts)."""
    connection = await aio_pika.connect(settings.rabbitmq.url.get_secret_value())
    try:
        channel = await connection.channel(publisher_confirms=True)
        await declare_topology(channel)
        yield channel
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def worker_running(
    main: WorkerMain, settings: Settings, name: str
) -> AsyncIterator[asyncio.Task[None]]:
    """A worker running in-process for the block; stopped (and its failure raised) at the end."""
    stop = asyncio.Event()
    task = asyncio.create_task(main(settings, stop), name=name)
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)


def consumer_retries(queue: str) -> float:
    """Failed handling attempts this process's consumers will try again on `queue` (workers run
    in-process): proof that a worker met an outage, where a sleep could only hope it did."""
    return sum(
        REGISTRY.get_sample_value("consumer_retries_total", {"queue": queue, "cause": cause}) or 0.0
        for cause in ("dependency", "timeout", "error")
    )


async def retried(queue: str, times: int, since: float = 0.0, timeout: float = 30.0) -> None:
    """Wait until `queue`'s consumer retried `times` more attempts than `since` (consumer_retries)."""
    await wait_for(lambda: consumer_retries(queue) >= since + times, timeout=timeout)


def tweet_event(
    event_type: str,
    tweet_id: uuid.UUID | str,
    user_id: uuid.UUID | str,
    content: str = "hello",
    *,
    created_at: datetime | None = None,
    edited_after: timedelta = timedelta(0),
) -> TweetEvent:
    """A tweet event as tweets publishes it (`edited_after`: updated_at past created_at)."""
    created = created_at or datetime.now(UTC)
    return TweetEvent.model_validate(
        {
            "event_type": event_type,
            "tweet_id": tweet_id,
            "user_id": user_id,
            "content": content,
            "created_at": created,
            "updated_at": created + edited_after,
        }
    )


def container_settings(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as a container builds them: config.toml (CONFIG_FILE), then its environment, and no
    .env file (docker-compose and Kubernetes pass everything as environment)."""
    for key in list(os.environ):
        if "__" in key or key in {"ENVIRONMENT", "LOG_LEVEL", "CONFIG_FILE"}:
            monkeypatch.delenv(key)
    monkeypatch.setenv("CONFIG_FILE", str(REPO_ROOT / "config.toml"))
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


def known_setting(model: type[BaseModel], path: list[str]) -> bool:
    """Whether SECTION__KEY (split into `path`) names a field of the settings model."""
    field = model.model_fields.get(path[0].lower())
    if field is None:
        return False
    if len(path) == 1:
        return True
    annotation = field.annotation
    return (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and known_setting(annotation, path[1:])
    )
