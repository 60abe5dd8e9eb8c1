"""Fixtures of the security and bad-input tests: the in-process services of the root conftest, real
accounts (real tokens), and a clean slate after every module so later suites see none of our data."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from devtools.fixtures import AccountFactory, engine_of, outbox_drained, purge_queues
from devtools.testing import Account, StartedService, free_port, register_and_login, truncate_all, wait_for
from shared.messaging.topology import QUEUES
from shared.runner import uvicorn_config
from shared.settings import HttpSettings, ServiceSettings, Settings

Serve = Callable[[FastAPI, HttpSettings], contextlib.AbstractAsyncContextManager[int]]


@contextlib.asynccontextmanager
async def served(app: FastAPI, http: HttpSettings) -> AsyncIterator[int]:
    """`app` (its lifespan already running) behind the fleet's real server configuration
    (shared.runner.uvicorn_config) on a free port."""
    section = ServiceSettings(rest_port=free_port(), grpc_port=0)
    server = uvicorn.Server(uvicorn_config(section, app, http, lifespan="off"))
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started, timeout=10)
    try:
        yield section.rest_port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)


@pytest.fixture(scope="session")
def serve() -> Serve:
    """`async with serve(app, http) as port`: an in-process app on a real port, real server."""
    return served


@pytest.fixture(scope="module", autouse=True)
async def clean_slate(
    users_service: StartedService, tweets_service: StartedService, settings: Settings
) -> AsyncIterator[None]:
    """After each module: the outboxes drained, then users and tweets emptied and the queues purged."""
    yield
    for service in (users_service, tweets_service):
        await outbox_drained(engine_of(service))
        await truncate_all(engine_of(service))
    await purge_queues(settings, QUEUES)


@pytest.fixture(scope="module")
async def clients(
    users_service: StartedService,
    tweets_service: StartedService,
    feed_service: StartedService,
    search_service: StartedService,
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """A client per in-process service that sees a server error as the 500 response a real client
    would get (the root fixtures' clients raise the app's exception instead)."""
    services = {
        "users": users_service,
        "tweets": tweets_service,
        "feed": feed_service,
        "search": search_service,
    }
    async with contextlib.AsyncExitStack() as stack:
        made = {
            name: await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=service.app, raise_app_exceptions=False),
                    base_url="http://testserver",
                )
            )
            for name, service in services.items()
        }
        yield made


@pytest.fixture
def users(clients: dict[str, httpx.AsyncClient]) -> httpx.AsyncClient:
    return clients["users"]


@pytest.fixture
def tweets(clients: dict[str, httpx.AsyncClient]) -> httpx.AsyncClient:
    return clients["tweets"]


@pytest.fixture
def feed(clients: dict[str, httpx.AsyncClient]) -> httpx.AsyncClient:
    return clients["feed"]


@pytest.fixture
def search(clients: dict[str, httpx.AsyncClient]) -> httpx.AsyncClient:
    return clients["search"]


@pytest.fixture
def new_account(users_service: StartedService) -> AccountFactory:
    """`await new_account()` registers a fresh user and logs in (a real token from users)."""

    async def register() -> Account:
        return await register_and_login(users_service.client)

    return register


@pytest.fixture
async def alice(new_account: AccountFactory) -> Account:
    return await new_account()


@pytest.fixture
async def bob(new_account: AccountFactory) -> Account:
    return await new_account()
