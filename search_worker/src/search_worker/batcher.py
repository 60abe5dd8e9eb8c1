"""Micro-batching of index writes across concurrently handled messages.

The consumer handles up to `prefetch` messages at once, each in its own task. Each handler submits
its document and waits; the documents submitted within `linger_seconds` of a batch's first one (or
until it holds `max_size`, or while the previous write is still running) go to the backend in ONE
write. Every handler returns only after the write of its batch, so each message is acked only
after its document is in the index, and a failed write fails (and retries) every message in it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from opentelemetry import context as otel_context
from opentelemetry import trace

from search.backends import DocumentsRejected, IndexDocument, SearchBackend
from shared.messaging.consumer import MalformedMessage

WRITE_SPAN = "search index write"


@dataclass
class _Pending:
    document: IndexDocument
    done: asyncio.Future[None]
    # The trace context of the message's processing span: the write continues that trace.
    context: otel_context.Context


@dataclass
class _Batch:
    items: list[_Pending] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class IndexBatcher:
    def __init__(
        self, backend: SearchBackend, max_size: int, linger_seconds: float, tracer: trace.Tracer
    ) -> None:
        self._backend = backend
        self._max_size = max(1, max_size)
        self._linger = max(0.0, linger_seconds)
        self._tracer = tracer
        self._open: _Batch | None = None
        self._write_lock = asyncio.Lock()
        self._writers: set[asyncio.Task[None]] = set()

    async def submit(self, document: IndexDocument) -> None:
        """Return once `document` is written; raise what the write of its batch raised."""
        batch = self._open
        if batch is None:
            batch = self._open = _Batch()
            writer = asyncio.create_task(self._write_when_ready(batch), name="search-index-write")
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        pending = _Pending(document, asyncio.get_running_loop().create_future(), otel_context.get_current())
        batch.items.append(pending)
        if len(batch.items) >= self._max_size:
            self._close(batch)
        await pending.done

    def _close(self, batch: _Batch) -> None:
        if self._open is batch:
            self._open = None
        batch.closed.set()

    async def _write_when_ready(self, batch: _Batch) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(batch.closed.wait(), self._linger)
        # Writes run one at a time; a batch keeps filling while the one before it is written.
        async with self._write_lock:
            self._close(batch)
            await self._write(batch.items)

    async def _write(self, items: list[_Pending]) -> None:
        others = [trace.get_current_span(item.context).get_span_context() for item in items[1:]]
        with self._tracer.start_as_current_span(
            WRITE_SPAN,
            context=items[0].context,
            kind=trace.SpanKind.CLIENT,
            links=[trace.Link(other) for other in others if other.is_valid],
            attributes={"db.system": self._backend.name, "search.batch_size": len(items)},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                await self._backend.apply([item.document for item in items])
            except DocumentsRejected as exc:
                span.record_exception(exc)
                for item in items:
                    reason = exc.reasons.get(item.document.id)
                    _resolve(
                        item, None if reason is None else MalformedMessage(f"rejected by the index: {reason}")
                    )
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
                for item in items:
                    _resolve(item, exc)
            else:
                for item in items:
                    _resolve(item, None)


def _resolve(item: _Pending, error: BaseException | None) -> None:
    if item.done.done():  # its handler was cancelled; the message will be redelivered
        return
    if error is None:
        item.done.set_result(None)
    else:
        item.done.set_exception(error)
