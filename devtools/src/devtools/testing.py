"""Helpers for the fleet's integration tests: real PostgreSQL, Redis and RabbitMQ, isolated per run.

Each test session gets its own databases (a random suffix on every database name), migrated by
Alembic, its own RabbitMQ virtual host and its own Redis database (leased, see `lease_redis_db`),
so test runs never see each other's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import redis
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.tcp_proxy import free_port
from shared.cli import ServiceSpec
from shared.db.migrations import migrate
from shared.settings import Settings, to_environment
from shared.wiring import Storing, Wiring, wiring_of

# Generated per test process, never a constant: 64 characters, long enough for every HMAC algorithm,
# including the HS512 a token test signs with. Child processes get them through settings_env.
TEST_JWT_SECRET = secrets.token_urlsafe(48)
TEST_SERVICE_TOKEN = secrets.token_urlsafe(48)


def test_settings(run_id: str | None = None, **overrides: Any) -> Settings:
    """Settings for one test session: its own database suffix, vhost and ports; env still wins for hosts."""
    run_id = run_id or secrets.token_hex(4)
    base = Settings(
        environment="test",
        jwt={"secret": TEST_JWT_SECRET},
        internal={"service_token": TEST_SERVICE_TOKEN},
    )
    vhost = f"test_{run_id}"
    create_vhost(vhost)
    amqp = urllib.parse.urlsplit(base.rabbitmq.url.get_secret_value())
    amqp_url = urllib.parse.urlunsplit(
        (amqp.scheme, amqp.netloc, "/" + urllib.parse.quote(vhost, safe=""), "", "")
    )
    redis_root = base.redis.url.rsplit("/", 1)[0]
    redis_url = "" if "redis" in overrides else f"{redis_root}/{lease_redis_db(redis_root, run_id)}"
    data: dict[str, Any] = {
        "environment": "test",
        "jwt": {"secret": TEST_JWT_SECRET},
        "internal": {"service_token": TEST_SERVICE_TOKEN},
        "database": {**base.database.model_dump(), "name_suffix": f"_test_{run_id}", "pool_size": 5},
        "rabbitmq": {"url": amqp_url},
        **({"redis": {"url": redis_url}} if redis_url else {}),
        "ratelimit": {"enabled": False},
        # Free metrics ports: concurrent test fleets never contend for the workers' 9102/9103.
        "feedworker": {
            "retry_base_seconds": 0.05,
            "retry_max_seconds": 0.5,
            "handler_timeout_seconds": 8.0,
            "metrics_port": free_port(),
        },
        "searchworker": {
            "retry_base_seconds": 0.05,
            "retry_max_seconds": 0.5,
            "handler_timeout_seconds": 8.0,
            "metrics_port": free_port(),
        },
        "notificationworker": {
            "retry_base_seconds": 0.05,
            "retry_max_seconds": 0.5,
            "handler_timeout_seconds": 8.0,
            "metrics_port": free_port(),
        },
    }
    for section in ("userservice", "tweetservice", "feedservice", "searchservice", "notificationservice"):
        current = getattr(base, section).model_dump()
        data[section] = {**current, "rest_port": free_port(), "grpc_port": free_port()}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Settings(**data)


# Databases 1-15 are leased to test runs (0 holds the leases). A lease outlives any test session;
# a run that crashed frees its database when its lease expires.
REDIS_TEST_DBS = range(1, 16)
REDIS_LEASE_SECONDS = 6 * 3600


def _lease_key(db: int) -> str:
    return f"test-redis-db:{db}"


def lease_redis_db(redis_root: str, run_id: str) -> int:
    """A Redis database for this run alone: TEST_REDIS_DB when set (its lease taken over, so runs
    that pick their own skip it), else the first of 1-15 whose lease key in db 0 this run sets
    (`SET key run NX EX`: atomic, two runs never get the same database)."""
    client = redis.Redis.from_url(f"{redis_root}/0")
    try:
        chosen = os.environ.get("TEST_REDIS_DB")
        if chosen:
            client.set(_lease_key(int(chosen)), run_id, ex=REDIS_LEASE_SECONDS)
            return int(chosen)
        for db in REDIS_TEST_DBS:
            if client.set(_lease_key(db), run_id, nx=True, ex=REDIS_LEASE_SECONDS):
                return db
    finally:
        client.close()
    raise RuntimeError("every Redis test database (1-15) is leased; set TEST_REDIS_DB or wait")


def release_redis_db(settings: Settings, direct_url: str | None = None) -> None:
    """Give the run's Redis database back (only if the lease is still this run's); `direct_url`
    when the settings reach Redis through a proxy that may be gone by now."""
    run_id = settings.database.name_suffix.removeprefix("_test_")
    root, db = (direct_url or settings.redis.url).rsplit("/", 1)
    client = redis.Redis.from_url(f"{root}/0", decode_responses=True)
    try:
        if client.get(_lease_key(int(db))) == run_id:
            client.delete(_lease_key(int(db)))
    finally:
        client.close()


def rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl (the local broker); tests skip vhost isolation when it is not there."""
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def create_vhost(vhost: str) -> None:
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")


def delete_vhost(vhost: str) -> None:
    try:
        rabbitmqctl("delete_vhost", vhost)
    except (subprocess.CalledProcessError, FileNotFoundError, subprocess.TimeoutExpired):
        pass


def vhost_of(settings: Settings) -> str:
    path = urllib.parse.urlsplit(settings.rabbitmq.url.get_secret_value()).path
    return urllib.parse.unquote(path.lstrip("/"))


async def truncate_all(engine: AsyncEngine, keep: tuple[str, ...] = ("alembic_version",)) -> None:
    """Empty every table of a database between tests (faster than re-migrating)."""
    async with engine.begin() as connection:
        names = (
            (await connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")))
            .scalars()
            .all()
        )
        targets = [f'"{name}"' for name in names if name not in keep]
        if targets:
            await connection.execute(text(f"TRUNCATE {', '.join(targets)} RESTART IDENTITY CASCADE"))


async def taken(request: Callable[[], Awaitable[httpx.Response]], attempts: int = 10) -> httpx.Response:
    """The response once the service took the request: a 503 "overloaded" (a shed request, never
    started) is sent again after its Retry-After, as a client does. Tests that fire 50 writes at one
    row at once meet it on a loaded CI machine, where they outlast the pool wait."""
    for _ in range(attempts):
        response = await request()
        if response.status_code != 503:
            return response
        assert assert_problem(response, 503)["type"] == "https://errors.fleet.example/overloaded", (
            response.text
        )
        await asyncio.sleep(float(response.headers["retry-after"]))
    return response


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll an (async) predicate until it returns something truthy; fail the test after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def started_service(spec: ServiceSpec, settings: Settings) -> AsyncIterator[StartedService]:
    """Migrate a service's database, run its lifespan (its gRPC server binds the real port in
    settings) and give an httpx client that calls its REST app in-process."""
    if spec.database is not None and spec.alembic_dir is not None:
        await migrate(settings.database, spec.database(settings), spec.alembic_dir)
    app = spec.create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield StartedService(app=app, client=client, spec=spec)


@dataclass
class StartedService:
    app: FastAPI
    client: httpx.AsyncClient
    spec: ServiceSpec

    @property
    def wiring(self) -> Wiring:
        """What the service's lifespan built (narrow it with shared.wiring.wiring_of)."""
        return wiring_of(self.app, Wiring)

    @property
    def engine(self) -> AsyncEngine | None:
        wiring = self.wiring
        return wiring.sessions.kw["bind"] if isinstance(wiring, Storing) else None


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem+json answer with this status; return its body."""
    assert response.status_code == status, f"{response.status_code} != {status}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["type"] and "detail" in body
    return body


@dataclass
class Account:
    """A registered user and a valid token, for tests of any service."""

    id: uuid.UUID
    username: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


TEST_PASSWORD = "hunter2hunter2"


async def register_and_login(users_client: httpx.AsyncClient, username: str | None = None) -> Account:
    username = username or f"u{uuid.uuid4().hex[:12]}"
    email = f"{username}@example.com"
    created = await users_client.post(
        "/register", json={"email": email, "username": username, "password": TEST_PASSWORD}
    )
    assert created.status_code == 201, created.text
    login = await users_client.post("/login", json={"username": username, "password": TEST_PASSWORD})
    assert login.status_code == 200, login.text
    return Account(uuid.UUID(created.json()["id"]), username, email, login.json()["access_token"])


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that make a child process read the same settings."""
    return {**to_environment(settings), "OTEL_EXPORTER_OTLP_ENDPOINT": settings.otlp_endpoint}


async def delete_feed_keys(redis: Any) -> None:
    """Delete only the keys the feed side owns (feeds, tombstones, cached tweets): suites share the
    test Redis db."""
    for pattern in ("feed:*", "deleted-tweet:*", "tweet:*", "author-feed:*", "big-authors", "last-seen:*"):
        keys = [key async for key in redis.scan_iter(match=pattern, count=1000)]
        for start in range(0, len(keys), 1000):
            await redis.delete(*keys[start : start + 1000])
