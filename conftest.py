"""Fixtures shared by every test suite of the fleet.

One test session = one event loop, one Settings with its own databases (random suffix), its own
RabbitMQ vhost and a Redis database of its own; services run in-process on real ports.
Start a service in a test module with the `users_service` (etc.) fixtures; `clean_state` empties
databases, Redis and queues between tests.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.asyncio import Redis

from devtools.fixtures import drop_service_databases
from devtools.redis_cluster import missing_tools, on_cluster, redis_cluster, settings_for
from devtools.tcp_proxy import free_port
from devtools.testing import (
    StartedService,
    delete_vhost,
    release_redis_db,
    started_service,
    test_settings,
    vhost_of,
)
from shared.lifecycle import is_cluster, redis_client
from shared.settings import Settings
from shared.telemetry import setup_tracing

os.environ.setdefault("ENVIRONMENT", "test")

# Test folders are named like the packages they test (users/tests for the package `users`); pytest's
# importlib mode would register a placeholder `users` module for them unless the real one is loaded first.
for _package in (
    "users",
    "tweets",
    "feed",
    "search",
    "feed_worker",
    "search_worker",
    "notifications",
    "notification_worker",
):
    with contextlib.suppress(ImportError):
        importlib.import_module(_package)


UNIT_TESTS = Path(__file__).parent / "tests" / "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/unit is the `unit` tier (`make test-unit`, `-m unit`)."""
    for item in items:
        if item.path.is_relative_to(UNIT_TESTS):
            item.add_marker(pytest.mark.unit)


# Tracing is on in tests as in production; spans go to memory so tests can follow a trace.
SPAN_EXPORTER = InMemorySpanExporter()
setup_tracing("fleet-tests", "", SimpleSpanProcessor(SPAN_EXPORTER))


@pytest.fixture(autouse=True)
def _forget_old_spans() -> None:
    SPAN_EXPORTER.clear()


@pytest.fixture
def finished_spans() -> InMemorySpanExporter:
    """The spans finished since the test started."""
    return SPAN_EXPORTER


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    value = test_settings()
    yield value
    delete_vhost(vhost_of(value))
    release_redis_db(value)


@pytest.fixture(scope="session")
async def _service_stack(settings: Settings) -> AsyncIterator[contextlib.AsyncExitStack]:
    async with contextlib.AsyncExitStack() as stack:
        stack.started = {}  # type: ignore[attr-defined]
        yield stack
    await drop_service_databases(settings)


async def _start(stack: contextlib.AsyncExitStack, name: str, settings: Settings) -> StartedService:
    started: dict[str, StartedService] = stack.started  # type: ignore[attr-defined]
    key = f"{name}@cluster" if settings.redis.cluster else name
    if key not in started:
        module = __import__(f"{name}.main", fromlist=["SPEC"])
        started[key] = await stack.enter_async_context(started_service(module.SPEC, settings))
    return started[key]


@pytest.fixture(scope="session")
async def users_service(_service_stack: contextlib.AsyncExitStack, settings: Settings) -> StartedService:
    return await _start(_service_stack, "users", settings)


@pytest.fixture(scope="session")
def redis_settings(settings: Settings, redis: Redis) -> Settings:
    """The session's settings on the Redis the `redis` fixture is; on a cluster, with ports of their
    own for the services that run against it (tweets and feed, started beside the single-server ones)."""
    if not is_cluster(redis):
        return settings
    moved = settings_for(settings, redis)

    def fresh_ports() -> dict[str, int]:
        return {"rest_port": free_port(), "grpc_port": free_port()}

    sections = {
        "tweetservice": moved.tweetservice.model_copy(update=fresh_ports()),
        "feedservice": moved.feedservice.model_copy(update=fresh_ports()),
    }
    return moved.model_copy(update=sections)


@pytest.fixture(scope="session")
async def tweets_service(
    _service_stack: contextlib.AsyncExitStack, redis_settings: Settings, users_service: StartedService
) -> StartedService:
    return await _start(_service_stack, "tweets", redis_settings)


@pytest.fixture(scope="session")
async def feed_service(
    _service_stack: contextlib.AsyncExitStack,
    redis_settings: Settings,
    users_service: StartedService,
    tweets_service: StartedService,
) -> StartedService:
    return await _start(_service_stack, "feed", redis_settings)


@pytest.fixture(scope="session")
async def search_service(_service_stack: contextlib.AsyncExitStack, settings: Settings) -> StartedService:
    return await _start(_service_stack, "search", settings)


@pytest.fixture(scope="session")
async def notifications_service(
    _service_stack: contextlib.AsyncExitStack, settings: Settings, users_service: StartedService
) -> StartedService:
    return await _start(_service_stack, "notifications", settings)


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """A 3-master Redis Cluster on loopback for the session (skipped where redis-server is absent)."""
    if reason := missing_tools():
        pytest.skip(f"no local Redis Cluster: {reason}")
    with redis_cluster() as url:
        yield url


@pytest.fixture(scope="session")
async def redis(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Redis]:
    """The test Redis. A module that must hold on a Redis Cluster too runs twice with
    `pytestmark = pytest.mark.parametrize("redis", REDIS_MODES, indirect=True)`."""
    if getattr(request, "param", "single") == "cluster":
        url = request.getfixturevalue("redis_cluster_url")
        async with redis_client(on_cluster(settings, url).redis) as cluster:
            await cluster.ping()  # discovers the nodes
            yield cluster
            await cluster.flushdb()
        return
    client = Redis.from_url(settings.redis.url, decode_responses=True)
    yield client
    await client.flushdb()
    await client.aclose()
