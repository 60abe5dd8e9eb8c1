"""The FastAPI app factory shared by every service: problem+json, /health, /ready, tracing."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.types import ASGIApp

from shared.http.limits import guard
from shared.http.problems import PROBLEM_RESPONSES, install_problem_handlers, problem
from shared.http.readiness import HEALTHY, run_checks
from shared.metrics import registry as metrics
from shared.metrics.http import RequestMetrics, install_metrics_route
from shared.settings import HttpSettings
from shared.telemetry import fastapi_telemetry
from shared.wiring import Wiring, install, wiring_of


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


def create_app(
    *,
    title: str,
    routers: list[APIRouter],
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    http: HttpSettings,
    version: str = "0.1.0",
) -> FastAPI:
    """A service app: its routers plus health, readiness and the error mapping, behind the body
    limit and with the security headers (shared.http.limits); `GET /metrics` and per-route request
    metrics unless [Metrics] enabled is false.

    The lifespan must `install` its wiring (shared.wiring), whose `readiness` lists the checks of
    its dependencies and `background` (name -> BackgroundState) what /ready also reports.
    """
    # No trailing-slash redirects: Starlette builds them from the Host header, so a client could
    # make the service answer with a redirect to a host of its choosing.
    app = FastAPI(
        title=title, version=version, lifespan=lifespan, telemetry=fastapi_telemetry(), redirect_slashes=False
    )
    install_problem_handlers(app)
    _guard_every_response(app, http)
    install(app, Wiring())

    @app.get("/health", tags=["ops"], summary="Liveness: 200 while the process runs")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        tags=["ops"],
        summary="Readiness: 200 when every dependency answers, 503 naming the ones down",
        # Documented as problem+json, the media type it is served with.
        responses={503: PROBLEM_RESPONSES[503] | {"description": "a dependency is down"}},
    )
    async def ready(request: Request) -> Any:
        wiring = wiring_of(request.app, Wiring)
        results = await run_checks(wiring.readiness)
        states = wiring.background
        # The public answer says what, not why (the reasons are logged): "retrying: <error>" -> "retrying".
        background = {name: state().split(":", 1)[0] for name, state in states.items()}
        down = {name: reason for name, reason in results.items() if reason not in HEALTHY}
        if down:
            return problem(
                503,
                "Not ready",
                f"unavailable: {', '.join(sorted(down))}",
                "not-ready",
                request.url.path,
                dependencies=results,
                background=background,
            )
        return JSONResponse({"status": "ready", "dependencies": results, "background": background})

    if metrics.enabled():
        install_metrics_route(app)
    for router in routers:
        app.include_router(router)
    _document_problem_schema(app)
    return app


def _guard_every_response(app: FastAPI, http: HttpSettings) -> None:
    """Wrap the whole middleware stack, Starlette's error middleware included, so a 500 gets the
    headers too and a too-large body is refused before anything reads it. Request metrics sit
    inside the guard: what it refuses never reaches a route."""
    build = app.build_middleware_stack

    def guarded() -> ASGIApp:
        inner = RequestMetrics(build()) if metrics.enabled() else build()
        return guard(inner, http.max_body_bytes)

    app.build_middleware_stack = guarded  # type: ignore[method-assign]


def _document_problem_schema(app: FastAPI) -> None:
    """Publish the Problem schema so responses documented as problem+json validate against it."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = Problem.model_json_schema()
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
