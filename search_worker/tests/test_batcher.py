"""IndexBatcher: concurrent messages share one index write, which continues their traces."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devtools.testing import StartedService, free_port
from search.backends import IndexDocument
from search.backends.postgres import PostgresBackend
from search_worker.batcher import WRITE_SPAN, IndexBatcher
from shared.db.engine import build_engine
from shared.errors import DependencyUnavailable
from shared.settings import Settings


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(spans: InMemorySpanExporter) -> trace.Tracer:
    """A tracer of its own: the test sees exactly the spans it made, whatever the global provider."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return provider.get_tracer("search-worker-test")


@pytest.fixture
async def backend(settings: Settings, search_service: StartedService) -> AsyncIterator[PostgresBackend]:
    """The PostgreSQL index (search_service migrated its database), empty before and after."""
    index = PostgresBackend(build_engine(settings.database, settings.searchservice.database))
    await index.reset()
    yield index
    await index.reset()
    await index.close()


def _document(content: str) -> IndexDocument:
    return IndexDocument(uuid.uuid4(), uuid.uuid4(), content, datetime(2026, 1, 1, tzinfo=UTC), 1)


async def _submit_each_in_its_own_trace(
    batcher: IndexBatcher, tracer: trace.Tracer, documents: list[IndexDocument]
) -> tuple[list[trace.SpanContext], list[BaseException | None]]:
    """Submit every document from its own task and message span, as the consumer does."""
    message_spans: list[trace.SpanContext] = []

    async def handle(document: IndexDocument) -> None:
        with tracer.start_as_current_span("search_tweets process") as span:
            message_spans.append(span.get_span_context())
            await batcher.submit(document)

    outcomes = await asyncio.gather(*(handle(document) for document in documents), return_exceptions=True)
    return message_spans, [outcome if isinstance(outcome, BaseException) else None for outcome in outcomes]


def _writes(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in spans.get_finished_spans() if span.name == WRITE_SPAN]


async def test_concurrent_documents_share_one_write_in_the_first_messages_trace(
    backend: PostgresBackend, tracer: trace.Tracer, spans: InMemorySpanExporter
) -> None:
    batcher = IndexBatcher(backend, max_size=100, linger_seconds=0.05, tracer=tracer)
    documents = [_document(f"batched write {n}") for n in range(5)]

    message_spans, failures = await _submit_each_in_its_own_trace(batcher, tracer, documents)

    assert failures == [None] * 5
    [write] = _writes(spans)
    assert write.attributes is not None and write.attributes["search.batch_size"] == 5
    assert write.parent is not None
    assert (write.context.trace_id, write.parent.span_id) == (
        message_spans[0].trace_id,
        message_spans[0].span_id,
    )
    assert {link.context.span_id for link in write.links} == {
        context.span_id for context in message_spans[1:]
    }
    _, total = await backend.search("batched")
    assert total == 5


async def test_a_full_batch_is_written_without_waiting_for_the_linger(
    backend: PostgresBackend, tracer: trace.Tracer, spans: InMemorySpanExporter
) -> None:
    batcher = IndexBatcher(backend, max_size=2, linger_seconds=30, tracer=tracer)

    _, failures = await asyncio.wait_for(
        _submit_each_in_its_own_trace(batcher, tracer, [_document(f"small batch {n}") for n in range(4)]),
        timeout=5,
    )

    assert failures == [None] * 4
    assert [span.attributes and span.attributes["search.batch_size"] for span in _writes(spans)] == [2, 2]


async def test_a_failed_write_fails_every_message_of_its_batch(
    settings: Settings, tracer: trace.Tracer, spans: InMemorySpanExporter
) -> None:
    unreachable = settings.database.model_copy(update={"port": free_port()})
    backend = PostgresBackend(build_engine(unreachable, settings.searchservice.database))
    batcher = IndexBatcher(backend, max_size=100, linger_seconds=0.01, tracer=tracer)
    try:
        _, failures = await _submit_each_in_its_own_trace(
            batcher, tracer, [_document("lost"), _document("too")]
        )
    finally:
        await backend.close()

    assert all(isinstance(failure, DependencyUnavailable) for failure in failures)
    [write] = _writes(spans)
    assert write.status.status_code == trace.StatusCode.ERROR
