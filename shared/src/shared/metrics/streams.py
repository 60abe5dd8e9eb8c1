"""The open-streams gauge: any long-lived response (SSE, WebSocket) holds one while it is open."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Gauge

OPEN_STREAMS = Gauge(
    "open_streams", "Streams open now, by kind (sse, websocket)", ["kind"], multiprocess_mode="livesum"
)


@contextmanager
def open_stream(kind: str) -> Iterator[None]:
    """Count a stream as open for the duration of the block: `with open_stream("sse"): ...`."""
    gauge = OPEN_STREAMS.labels(kind)
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()
