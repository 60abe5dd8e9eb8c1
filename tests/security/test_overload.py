"""Overload is said as overload (issue 15): when every pooled connection is busy, a request waits a
bounded time and is then shed with 503 problem+json "overloaded" and Retry-After (gRPC:
RESOURCE_EXHAUSTED), not reported as the dependency being down; /ready stays 200 ("saturated")."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from devtools.testing import Account, StartedService, assert_problem
from feed.deps import FeedWiring
from fleet_proto import user_service_pb2 as pb
from fleet_proto import user_service_pb2_grpc
from shared.errors import Overloaded
from shared.messaging.consumer import is_transient
from shared.settings import Settings
from shared.wiring import wiring_of

OVERLOADED = "https://errors.fleet.example/overloaded"


@pytest.fixture
async def redis_pool_full(feed_service: StartedService) -> AsyncIterator[None]:
    """Every connection of feed's Redis pool taken (as by as many slow concurrent requests)."""
    pool = wiring_of(feed_service.app, FeedWiring).redis.connection_pool
    held = [await pool.get_connection() for _ in range(pool.max_connections)]
    try:
        yield
    finally:
        for connection in held:
            await pool.release(connection)


@pytest.fixture
async def database_pool_full(users_service: StartedService, settings: Settings) -> AsyncIterator[None]:
    """Every connection of users' SQLAlchemy pool taken."""
    assert users_service.engine is not None
    held: list[AsyncConnection] = []
    try:
        for _ in range(settings.database.pool_size + settings.database.max_overflow):
            held.append(await users_service.engine.connect())
        yield
    finally:
        for connection in held:
            await connection.close()


def _overloaded(response: httpx.Response) -> None:
    body = assert_problem(response, 503)
    assert body["type"] == OVERLOADED, body
    assert "unavailable" not in body["detail"], body
    assert int(response.headers["retry-after"]) >= 1


async def test_a_full_redis_pool_sheds_the_request_as_overloaded(
    feed: httpx.AsyncClient, alice: Account, redis_pool_full: None
) -> None:
    _overloaded(await feed.get("/feed", headers=alice.headers))
    ready = await feed.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["dependencies"]["redis"] == "saturated"


async def test_a_full_database_pool_sheds_the_request_as_overloaded(
    users: httpx.AsyncClient, alice: Account, settings: Settings, database_pool_full: None
) -> None:
    _overloaded(await users.get("/users/me", headers=alice.headers))
    ready = await users.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["dependencies"]["postgresql"] == "saturated"

    async with grpc.aio.insecure_channel(f"127.0.0.1:{settings.userservice.grpc_port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            stub: Any = user_service_pb2_grpc.UserStub(channel)
            credential = [("authorization", f"Bearer {settings.internal.service_token.get_secret_value()}")]
            await stub.GetUser(pb.GetUserRequest(user_id=str(alice.id)), timeout=10, metadata=credential)
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_requests_are_served_again_once_the_pools_free_up(
    users: httpx.AsyncClient, feed: httpx.AsyncClient, alice: Account
) -> None:
    assert (await users.get("/users/me", headers=alice.headers)).status_code == 200
    assert (await feed.get("/feed", headers=alice.headers)).status_code == 200
    assert uuid.UUID((await users.get("/users/me", headers=alice.headers)).json()["id"]) == alice.id


def test_overload_is_retried_by_consumers_like_an_outage() -> None:
    # A worker whose Redis pool is full must retry the message later, not dead-letter it.
    assert is_transient(Overloaded("too many concurrent requests for redis", dependency="redis"))
