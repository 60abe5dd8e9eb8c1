from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from devtools.testing import Account, StartedService, register_and_login, truncate_all


@pytest.fixture(autouse=True)
async def clean_users_db(users_service: StartedService) -> AsyncIterator[None]:
    yield
    assert users_service.engine is not None
    await truncate_all(users_service.engine)


@pytest.fixture
def client(users_service: StartedService) -> httpx.AsyncClient:
    return users_service.client


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> Account:
    return await register_and_login(client, "alice")


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> Account:
    return await register_and_login(client, "bob")
