"""The real fleet: the six processes as `make run` starts them, on free ports, with their own
databases, RabbitMQ vhost and Redis database, driven over HTTP like a client would."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from devtools.fleet import Fleet
from devtools.testing import delete_vhost, release_redis_db, settings_env, test_settings, vhost_of
from shared.db.migrations import drop_database
from shared.settings import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def e2e_settings() -> Iterator[Settings]:
    value = test_settings()
    yield value
    delete_vhost(vhost_of(value))
    release_redis_db(value)


@pytest.fixture(scope="session")
async def fleet(e2e_settings: Settings) -> AsyncIterator[Fleet]:
    running = Fleet(e2e_settings, env=settings_env(e2e_settings), log_prefix=True)
    await running.migrate()
    await running.start()
    try:
        await running.wait_ready(timeout=90)
        yield running
    finally:
        await running.stop()
        for section in (e2e_settings.userservice, e2e_settings.tweetservice, e2e_settings.searchservice):
            with contextlib.suppress(Exception):
                await drop_database(e2e_settings.database, section.database)


@pytest.fixture(scope="session")
async def http(fleet: Fleet) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """One client per service, at the ports the processes listen on."""
    settings = fleet.settings
    ports = {
        "users": settings.userservice.rest_port,
        "tweets": settings.tweetservice.rest_port,
        "feed": settings.feedservice.rest_port,
        "search": settings.searchservice.rest_port,
    }
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
            )
            for name, port in ports.items()
        }
        yield clients
