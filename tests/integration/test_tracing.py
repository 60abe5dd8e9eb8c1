"""One POST /tweet is one trace: the request, the outbox publish, the feed worker's Redis writes and
the search worker's index write all carry the same trace id."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from devtools.testing import StartedService, register_and_login, wait_for
from feed_worker.main import run as run_feed_worker
from search_worker.main import run as run_search_worker
from shared.settings import Settings


@pytest.fixture
async def workers(settings: Settings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(run_feed_worker(settings, stop)),
        asyncio.create_task(run_search_worker(settings, stop)),
    ]
    yield
    stop.set()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)


async def test_post_tweet_trace_reaches_feed_redis_writes_and_search_index_write(
    users_service: StartedService,
    tweets_service: StartedService,
    search_service: StartedService,
    redis: Redis,
    workers: None,
    finished_spans: InMemorySpanExporter,
) -> None:
    author = await register_and_login(users_service.client)
    response = await tweets_service.client.post(
        "/tweet", json={"content": "tracing the zeppelin"}, headers=author.headers
    )
    assert response.status_code == 201
    tweet_id = response.json()["id"]

    async def delivered() -> bool:
        in_feed = tweet_id in await redis.lrange(f"feed:{author.id}", 0, -1)
        found = await search_service.client.get("/search", params={"q": "zeppelin"})
        return in_feed and tweet_id in found.text

    await wait_for(delivered, timeout=15)

    def trace_of_post() -> list | None:  # type: ignore[type-arg]
        spans = finished_spans.get_finished_spans()
        requests = [s for s in spans if s.kind == SpanKind.SERVER and s.name.startswith("POST /tweet")]
        if not requests:
            return None
        trace_id = requests[0].context.trace_id
        in_trace = [s for s in spans if s.context.trace_id == trace_id]
        names = {s.name for s in in_trace}
        complete = (
            any(s.kind == SpanKind.PRODUCER and "tweet_events" in s.name for s in in_trace)
            and "feed fanout" in names
            and "search index write" in names
        )
        return in_trace if complete else None

    in_trace = await wait_for(trace_of_post, timeout=10)
    redis_writes = [s for s in in_trace if (s.attributes or {}).get("db.system") == "redis"]
    assert redis_writes, "the feed worker's Redis commands belong to the POST's trace"
    fanout = next(s for s in in_trace if s.name == "feed fanout")
    assert any(s.parent is not None and s.parent.span_id == fanout.context.span_id for s in redis_writes)
