"""What every test suite needs, defined once: accounts, "the outbox is drained", queue purges.

The suites' conftests build their pytest fixtures from these (they differ in scope only).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import aio_pika
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.testing import Account, StartedService, register_and_login, wait_for
from shared.messaging.topology import QUEUES, declare_topology
from shared.settings import Settings

AccountFactory = Callable[[], Awaitable[Account]]


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
