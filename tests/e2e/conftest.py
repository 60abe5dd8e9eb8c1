"""The real fleet: the six processes as `make run` starts them, on free ports, with their own
databases, RabbitMQ vhost and Redis database, driven over HTTP like a client would."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from devtools.fixtures import running_fleet
from devtools.fleet import Fleet
from devtools.testing import delete_vhost, release_redis_db, test_settings, vhost_of
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
    async with running_fleet(e2e_settings) as running:
        yield running


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
