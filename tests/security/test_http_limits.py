"""Requests are bounded (issue 15, "Unbounded requests"): bodies by size, validation answers by
length, slow clients by time, connections by number. Against the users app served by the fleet's
real uvicorn configuration (shared.runner.uvicorn_config) on a real port, with real sockets."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from devtools.testing import StartedService, assert_problem
from shared.settings import HttpSettings

# Small deadlines, so a slow client is cut within a test; the body limit is the default one.
HTTP = HttpSettings(header_timeout_seconds=1.0, body_timeout_seconds=1.0, max_concurrency=4)
LIMIT = HttpSettings().max_body_bytes
LOGIN = b"POST /login HTTP/1.1\r\nHost: users\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
async def port(users_service: StartedService, serve: Any) -> AsyncIterator[int]:
    """The users app behind the real server."""
    async with serve(users_service.app, HTTP) as bound:
        yield bound


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _answer_and_close(reader: asyncio.StreamReader, within: float) -> tuple[int, dict[str, str], bytes]:
    """Read what the server sends until it closes the connection; fail if it does not in time."""
    raw = await asyncio.wait_for(reader.read(-1), timeout=within)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _is_problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict[str, object]:
    assert status == expected, (status, headers, body)
    assert headers["content-type"] == "application/problem+json"
    problem: dict[str, object] = json.loads(body)
    assert problem["status"] == expected
    return problem


async def test_a_body_announced_over_the_limit_is_413_before_it_is_read(port: int) -> None:
    reader, writer = await _connect(port)
    started = time.monotonic()
    # 100 MB announced, 1 byte sent: answered at once, and the connection closed (never read on).
    writer.write(LOGIN + b"Content-Length: 104857600\r\n\r\n{")
    status, headers, body = await _answer_and_close(reader, within=2)
    writer.close()
    assert time.monotonic() - started < 1
    _is_problem(status, headers, body, 413)
    assert headers["connection"] == "close"


async def test_a_streamed_body_over_the_limit_is_413(port: int) -> None:
    reader, writer = await _connect(port)
    # No Content-Length (chunked): counted as it arrives; a little past the limit is enough.
    writer.write(LOGIN + b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"a" * 1024
    for _ in range(LIMIT // len(chunk) + 1):
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    status, headers, body = await _answer_and_close(reader, within=2)
    writer.close()
    _is_problem(status, headers, body, 413)


async def test_a_body_under_the_limit_is_served(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        padded = {"username": "nobody", "password": "p" * 100, "email": None}
        response = await client.post("/login", content=json.dumps(padded).ljust(LIMIT // 2).encode())
    assert response.status_code in (401, 422), response.text


async def test_validation_errors_are_capped(users: httpx.AsyncClient) -> None:
    unknown = {f"key{n}": n for n in range(500)}
    body = assert_problem(await users.post("/login", json={"username": "x", "password": "y", **unknown}), 422)
    assert len(body["errors"]) == 20
    assert body["error_count"] == 500
    assert len(json.dumps(body)) < 8 * 1024


async def test_headers_sent_slowly_are_cut_off(port: int) -> None:
    reader, writer = await _connect(port)
    started = time.monotonic()
    writer.write(b"GET /health HTTP/1.1\r\n")

    async def one_header_line_at_a_time() -> None:
        for n in range(100):
            await asyncio.sleep(0.3)
            writer.write(f"X-Slow-{n}: 1\r\n".encode())

    trickle = asyncio.create_task(one_header_line_at_a_time())
    try:
        status, headers, body = await _answer_and_close(reader, within=HTTP.header_timeout_seconds + 2)
    finally:
        trickle.cancel()
        writer.close()
    assert time.monotonic() - started < HTTP.header_timeout_seconds + 1
    _is_problem(status, headers, body, 408)


async def test_a_body_sent_slowly_is_cut_off(port: int) -> None:
    reader, writer = await _connect(port)
    started = time.monotonic()
    writer.write(LOGIN + b"Content-Length: 1000\r\n\r\n{")
    status, headers, body = await _answer_and_close(reader, within=HTTP.body_timeout_seconds + 2)
    writer.close()
    assert time.monotonic() - started < HTTP.body_timeout_seconds + 1
    _is_problem(status, headers, body, 408)


async def test_a_silent_connection_is_closed(port: int) -> None:
    reader, writer = await _connect(port)
    sent = await asyncio.wait_for(reader.read(-1), timeout=HTTP.header_timeout_seconds + 2)
    writer.close()
    assert sent.startswith(b"HTTP/1.1 408 "), sent


async def test_connections_past_the_limit_are_answered_overloaded(port: int) -> None:
    idle = [await _connect(port) for _ in range(HTTP.max_concurrency)]
    try:
        reader, writer = await _connect(port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: users\r\n\r\n")
        status, headers, body = await _answer_and_close(reader, within=2)
        writer.close()
    finally:
        for _, idle_writer in idle:
            idle_writer.close()
    problem = _is_problem(status, headers, body, 503)
    assert problem["type"] == "https://errors.fleet.example/overloaded"
    assert headers["retry-after"] == "1"
    # Once they are gone, the next request is served.
    await asyncio.sleep(0.1)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.get("/health")).status_code == 200


async def test_the_next_request_on_a_kept_alive_connection_has_a_deadline_too(port: int) -> None:
    reader, writer = await _connect(port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: users\r\n\r\n")
    first = await asyncio.wait_for(reader.readuntil(b'{"status":"ok"}'), timeout=2)
    assert first.startswith(b"HTTP/1.1 200 ")
    writer.write(b"GET /health HTTP/1.1\r\nX-Slow: 1\r\n")  # the headers never end
    status, headers, body = await _answer_and_close(reader, within=HTTP.header_timeout_seconds + 2)
    writer.close()
    _is_problem(status, headers, body, 408)
