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

from devtools.testing import (
    StartedService,
    delete_vhost,
    release_redis_db,
    started_service,
    test_settings,
    vhost_of,
)
from shared.db.migrations import drop_database
from shared.settings import Settings
from shared.telemetry import setup_tracing

os.environ.setdefault("ENVIRONMENT", "test")

# Test folders are named like the packages they test (users/tests for the package `users`); pytest's
# importlib mode would register a placeholder `users` module for them unless the real one is loaded first.
for _package in ("users", "tweets", "feed", "search", "feed_worker", "search_worker"):
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
    for section in (settings.userservice, settings.tweetservice, settings.searchservice):
        with contextlib.suppress(Exception):
            await drop_database(settings.database, section.database)


async def _start(stack: contextlib.AsyncExitStack, name: str, settings: Settings) -> StartedService:
    started: dict[str, StartedService] = stack.started  # type: ignore[attr-defined]
    if name not in started:
        module = __import__(f"{name}.main", fromlist=["SPEC"])
        started[name] = await stack.enter_async_context(started_service(module.SPEC, settings))
    return started[name]


@pytest.fixture(scope="session")
async def users_service(_service_stack: contextlib.AsyncExitStack, settings: Settings) -> StartedService:
    return await _start(_service_stack, "users", settings)


@pytest.fixture(scope="session")
async def tweets_service(
    _service_stack: contextlib.AsyncExitStack, settings: Settings, users_service: StartedService
) -> StartedService:
    return await _start(_service_stack, "tweets", settings)


@pytest.fixture(scope="session")
async def feed_service(
    _service_stack: contextlib.AsyncExitStack, settings: Settings, tweets_service: StartedService
) -> StartedService:
    return await _start(_service_stack, "feed", settings)


@pytest.fixture(scope="session")
async def search_service(_service_stack: contextlib.AsyncExitStack, settings: Settings) -> StartedService:
    return await _start(_service_stack, "search", settings)


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis.url, decode_responses=True)
    yield client
    await client.flushdb()
    await client.aclose()
