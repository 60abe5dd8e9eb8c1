"""A real browser consumes the live stream: headless Chromium (Debian's package) loads a small
page that buys a ticket with POST /stream/ticket and opens `new EventSource("/stream?ticket=...")`,
and the `update` and `notification` events published for its user land in the page's DOM, read
back over the DevTools protocol.

The page and the API share one origin, as behind the ingress of a deployment: a tiny local server
serves the page and forwards /stream and /stream/ticket to a real notifications process (streamed,
byte for byte), so no CORS is involved and the browser parses the service's own SSE bytes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import pytest
import websockets
from aiohttp import web
from redis.asyncio import Redis

from devtools.tcp_proxy import free_port
from devtools.testing import wait_for
from notifications.live import NOTIFICATION, UPDATE, LivePublisher
from notifications.main import ALEMBIC_DIR
from notifications.tests.live_processes import notifications_process, user
from shared.db.migrations import migrate
from shared.settings import Settings

CHROMIUM = shutil.which("chromium")
PAGE = Path(__file__).parent / "browser" / "live.html"
PAGE_TITLE = "live stream"
# What the page shows: its EventSource's state and every event it received.
READ_PAGE = """JSON.stringify({
  state: document.getElementById("state").textContent,
  events: [...document.querySelectorAll("#events li")].map(
    (li) => ({event: li.dataset.event, id: li.dataset.id, data: li.textContent})),
})"""
FORWARDED_HEADERS = ("authorization", "accept", "last-event-id", "content-type")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (scripts/ensure-services.sh)"
    ),
]


@contextlib.asynccontextmanager
async def same_origin_site(upstream: str) -> AsyncIterator[str]:
    """Serves the page at / and forwards the stream's routes to `upstream`; yields its URL."""
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=None))

    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE)

    async def forward(request: web.Request) -> web.StreamResponse:
        headers = {
            name: value for name, value in request.headers.items() if name.lower() in FORWARDED_HEADERS
        }
        async with session.request(
            request.method, upstream + request.path_qs, headers=headers, data=await request.read()
        ) as answer:
            response = web.StreamResponse(
                status=answer.status,
                headers={
                    name: answer.headers[name]
                    for name in ("Content-Type", "Cache-Control")
                    if name in answer.headers
                },
            )
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            return response

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_route("*", "/stream", forward)
    app.router.add_route("*", "/stream/ticket", forward)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        await session.close()


class Browser:
    """Headless Chromium on one page, driven over the DevTools protocol."""

    def __init__(self, connection: websockets.ClientConnection) -> None:
        self._connection = connection
        self._ids = itertools.count(1)

    async def evaluate(self, expression: str) -> Any:
        request_id = next(self._ids)
        params = {"expression": expression, "returnByValue": True}
        command = {"id": request_id, "method": "Runtime.evaluate", "params": params}
        # A text frame: the DevTools server drops the connection on a binary one.
        await self._connection.send(orjson.dumps(command).decode())
        while True:
            message = orjson.loads(await asyncio.wait_for(self._connection.recv(), 10))
            if message.get("id") == request_id:
                return message["result"]["result"].get("value")


@contextlib.asynccontextmanager
async def chromium(url: str) -> AsyncIterator[Browser]:
    assert CHROMIUM is not None
    port = free_port()
    # Chromium's helper processes may still write the profile for a moment after they are killed.
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as profile:
        child = await asyncio.create_subprocess_exec(
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # root in a container has no user namespace for the sandbox
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--remote-debugging-port={port}",
            url,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # its helper processes go with it (killpg below)
        )
        try:
            async with httpx.AsyncClient(timeout=2) as client:

                async def page_target() -> str | None:
                    assert child.returncode is None, "chromium exited"
                    with contextlib.suppress(httpx.HTTPError):
                        targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
                        for target in targets:
                            # The page's title once it loaded: a session opened before the
                            # navigation commits is dropped when the page changes process.
                            if target["type"] == "page" and target["title"] == PAGE_TITLE:
                                return str(target["webSocketDebuggerUrl"])
                    return None

                debugger = await wait_for(page_target, timeout=60, interval=0.2)
            async with websockets.connect(debugger, max_size=None) as connection:
                yield Browser(connection)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            await child.wait()


@pytest.fixture(scope="module")
async def site(settings: Settings) -> AsyncIterator[str]:
    await migrate(settings.database, settings.notificationservice.database, ALEMBIC_DIR)
    async with notifications_process(settings) as process, same_origin_site(process.base_url) as url:
        yield url


async def test_a_browser_eventsource_receives_updates_and_notifications(
    settings: Settings, site: str, redis: Redis
) -> None:
    alice = user(settings)
    async with chromium(f"{site}/#token={alice.token}") as browser:

        async def page() -> dict[str, Any]:
            shown: dict[str, Any] = orjson.loads(await browser.evaluate(READ_PAGE))
            assert not shown["state"].startswith("failed"), shown
            return shown

        await wait_for(lambda: _state_is(page, "open"), timeout=30, interval=0.1)
        publisher = LivePublisher(redis)
        update = orjson.dumps({"id": "t-1", "content": "héllo\nworld"}).decode()
        notification = orjson.dumps({"id": "n-1", "type": "like"}).decode()
        await publisher.publish(UPDATE, update, [alice.id])
        await publisher.publish(NOTIFICATION, notification, [alice.id])

        async def both_shown() -> list[dict[str, str]] | None:
            events: list[dict[str, str]] = (await page())["events"]
            return events if len(events) >= 2 else None

        events = await wait_for(both_shown, timeout=15, interval=0.1)
    assert [(event["event"], event["data"]) for event in events] == [
        ("update", update),
        ("notification", notification),
    ]
    # Each carries the stream entry id as its lastEventId (what a reconnect sends as Last-Event-ID).
    first, second = (tuple(map(int, event["id"].split("-"))) for event in events)
    assert first < second


async def _state_is(page: Any, state: str) -> bool:
    return bool((await page())["state"] == state)
