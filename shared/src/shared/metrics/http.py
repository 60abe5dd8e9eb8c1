"""Requests, errors and latency of a REST service, per route template, and `GET /metrics`.

The route label is the template FastAPI matched (`/users/{user_id}`), never the raw path, so the
number of series stays bounded; a request no route matched is labelled `unmatched`. Errors are
the requests with a 5xx status.
"""

from __future__ import annotations

import time

from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.metrics.registry import exposition

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Latency buckets from 2.5 ms (a cached feed page) to 10 s (the request deadlines).
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "http_requests", "REST requests answered, by route template and status", ["method", "route", "status"]
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer a REST request, by route template",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)


class RequestMetrics:
    """ASGI middleware around the whole app, so 500s from unhandled errors count too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # (method, route, status) -> children: labels() takes a lock and builds a key; on the hot
        # path one dict lookup does.
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._histograms: dict[tuple[str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # unless a response starts: the client went away, or the app failed

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or UNMATCHED
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        key = (method, template, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = REQUESTS.labels(method, template, str(status))
        counter.inc()
        histogram = self._histograms.get(key[:2])
        if histogram is None:
            histogram = self._histograms[key[:2]] = LATENCY.labels(method, template)
        histogram.observe(seconds)


def install_metrics_route(app: FastAPI) -> None:
    """`GET /metrics`: the Prometheus text format (operations, not part of the documented API)."""

    async def metrics(_request: Request) -> Response:
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
