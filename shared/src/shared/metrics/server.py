"""A worker's `GET /metrics` port (workers have no REST app): prometheus-client's own small server,
on a thread of its own so a busy event loop never delays a scrape."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import start_http_server

from shared.metrics.registry import enabled
from shared.settings import WorkerSettings

logger = logging.getLogger(__name__)


@contextmanager
def serving_metrics(section: WorkerSettings) -> Iterator[int | None]:
    """Serve the process's metrics on `section.metrics_host:metrics_port` for the block; yields the
    port, or None when metrics are off, the port is 0, or it cannot be bound (logged: the worker
    keeps consuming, and the scrape target shows down)."""
    if not enabled() or section.metrics_port == 0:
        yield None
        return
    try:
        server, thread = start_http_server(section.metrics_port, section.metrics_host)
    except OSError as exc:
        logger.error(
            "cannot serve metrics on %s:%d (%s); continuing without",
            section.metrics_host,
            section.metrics_port,
            exc,
        )
        yield None
        return
    logger.info("metrics on http://%s:%d/metrics", section.metrics_host, section.metrics_port)
    try:
        yield section.metrics_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
