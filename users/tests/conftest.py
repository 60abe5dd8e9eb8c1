from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from sqlalchemy import text

from devtools.testing import Account, StartedService, register_and_login, truncate_all
from shared.auth import TokenCodec
from shared.settings import Settings

Crowd = Callable[[int], Awaitable[list[Account]]]


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


@pytest.fixture
def crowd(users_service: StartedService, settings: Settings) -> Crowd:
    """`await crowd(n)`: n accounts inserted in one statement, with real tokens (n Argon2
    registrations would only test the hasher)."""

    async def make(size: int) -> list[Account]:
        assert users_service.engine is not None
        prefix = f"fan{uuid.uuid4().hex[:8]}_"
        async with users_service.engine.begin() as connection:
            rows = await connection.execute(
                text(
                    "INSERT INTO actors (id, email, email_key, username, password_hash) "
                    "SELECT gen_random_uuid(), :p || i || '@example.com', :p || i || '@example.com', :p || i, 'x' "
                    "FROM generate_series(1, :n) i RETURNING id, username"
                ),
                {"p": prefix, "n": size},
            )
            made = rows.all()
        codec = TokenCodec(settings.jwt)
        return [
            Account(row.id, row.username, f"{row.username}@example.com", codec.issue(row.id, row.username))
            for row in made
        ]

    return make
