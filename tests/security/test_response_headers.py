"""What every answer says about the server and what it lets caches and browsers do (issue 15, "Low"):
no server banner, `nosniff` on every response (errors included), `no-store` on the login answer,
no redirect built from the Host header, and a public /ready that names what is down but not why."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from devtools.testing import TEST_PASSWORD, Account, StartedService, assert_problem
from shared.errors import Overloaded
from shared.http.app import create_app
from shared.http.readiness import ReadinessCheck
from shared.settings import HttpSettings
from shared.wiring import Wiring, install

SECRET_DETAIL = "password authentication failed for user admin at 10.1.2.3"


@pytest.fixture(scope="module")
async def users_http(users_service: StartedService, serve: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the users app behind the real server on a real port."""
    async with (
        serve(users_service.app, HttpSettings()) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        yield client


async def test_no_server_banner_and_nosniff_on_every_answer(users_http: httpx.AsyncClient) -> None:
    for response in (
        await users_http.get("/health"),
        await users_http.get("/no-such-route"),
        await users_http.post("/login", content=b"{not json", headers={"Content-Type": "application/json"}),
    ):
        assert "server" not in response.headers, response.headers
        assert response.headers["x-content-type-options"] == "nosniff", response.headers
        # HTTP requires a Date of a server with a clock; it tells nothing about the software.
        assert "date" in response.headers


async def test_the_login_answer_is_not_stored(users_http: httpx.AsyncClient, alice: Account) -> None:
    response = await users_http.post("/login", json={"username": alice.username, "password": TEST_PASSWORD})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"


async def test_a_trailing_slash_is_not_redirected_to_the_callers_host(
    users_http: httpx.AsyncClient, alice: Account
) -> None:
    response = await users_http.get("/users/me/", headers={**alice.headers, "Host": "evil.example"})
    assert "location" not in response.headers, response.headers
    assert "evil.example" not in response.text
    assert_problem(response, 404)


def _app_with_probes(**probes: Any) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install(
            app,
            Wiring(
                readiness=[ReadinessCheck(name, probe) for name, probe in probes.items()],
                background={"outbox.rabbitmq": lambda: f"retrying: {SECRET_DETAIL}"},
            ),
        )
        yield

    return create_app(title="probe", routers=[APIRouter()], lifespan=lifespan, http=HttpSettings())


async def _ready(app: FastAPI) -> httpx.Response:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        return await client.get("/ready")


async def test_ready_names_the_failing_dependency_without_its_error(caplog: pytest.LogCaptureFixture) -> None:
    async def failing() -> None:
        raise ConnectionError(SECRET_DETAIL)

    async def fine() -> None:
        return None

    with caplog.at_level(logging.WARNING):
        body = assert_problem(await _ready(_app_with_probes(postgresql=failing, redis=fine)), 503)
    assert body["dependencies"] == {"postgresql": "unavailable", "redis": "ok"}
    assert "postgresql" in body["detail"]
    assert body["background"] == {"outbox.rabbitmq": "retrying"}
    assert "10.1.2.3" not in str(body)
    assert SECRET_DETAIL in caplog.text  # the reason goes to the log


async def test_a_saturated_dependency_is_not_an_outage() -> None:
    async def full_pool() -> None:
        raise Overloaded("too many concurrent requests", dependency="postgresql")

    response = await _ready(_app_with_probes(postgresql=full_pool))
    assert response.status_code == 200, response.text
    assert response.json()["dependencies"] == {"postgresql": "saturated"}
