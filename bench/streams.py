"""The live stream's two servers under test: a notifications process of its own (bench settings:
a short heartbeat, uvicorn's connection limit raised above the streams held) and the bare Redis
pub/sub -> SSE baseline (bench.bare_sse). Both run beside the fleet, on the fleet's Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator

import httpx
import orjson

from bench.context import Context
from bench.loadgen import REPO_ROOT
from bench.stream_agent import raise_open_files_limit
from devtools.tcp_proxy import free_port

# The bare server's channels: apart from the fleet's `live:<user>`, so neither sees the other's events.
BARE_CHANNEL_PREFIX = "bench.bare.live:"
READY_SECONDS = 60.0


async def _stop(child: asyncio.subprocess.Process) -> None:
    if child.returncode is None:
        child.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(child.wait(), 15)
        except TimeoutError:
            child.kill()
            await child.wait()


@contextlib.asynccontextmanager
async def notifications_process(
    ctx: Context, streams: int, heartbeat_seconds: float
) -> AsyncIterator[tuple[str, int]]:
    """One notifications process (workers = 1) on free ports; yields its URL and pid. It inherits
    this process's RLIMIT_NOFILE, raised first: one descriptor per stream."""
    raise_open_files_limit()
    rest_port, grpc_port = free_port(), free_port()
    env = {
        **os.environ,
        **ctx.fleet.env,
        "NOTIFICATIONSERVICE__REST_PORT": str(rest_port),
        "NOTIFICATIONSERVICE__GRPC_PORT": str(grpc_port),
        "NOTIFICATIONSERVICE__WORKERS": "1",
        "NOTIFICATIONSERVICE__HEARTBEAT_SECONDS": str(heartbeat_seconds),
        # uvicorn's limit_concurrency counts open streams: room for all of them and a few requests.
        "HTTP__MAX_CONCURRENCY": str(streams + 100),
    }
    child = await asyncio.create_subprocess_exec(
        "notifications", "serve", env=env, stdout=asyncio.subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{rest_port}"
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(int(READY_SECONDS / 0.2)):
                if child.returncode is not None:
                    raise RuntimeError(f"the bench's notifications process exited with {child.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{url}/ready")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
            else:
                raise TimeoutError("the bench's notifications process did not become ready")
        yield url, child.pid
    finally:
        await _stop(child)


@contextlib.asynccontextmanager
async def bare_server(ctx: Context, heartbeat_seconds: float) -> AsyncIterator[tuple[str, int]]:
    """The bare Redis pub/sub -> SSE server; yields its URL and pid."""
    raise_open_files_limit()
    jwt = ctx.fleet.settings.jwt
    config = {
        "redis_url": ctx.fleet.redis_url,
        "channel_prefix": BARE_CHANNEL_PREFIX,
        "heartbeat_seconds": heartbeat_seconds,
        "jwt": {
            "secret": jwt.secret.get_secret_value(),
            "algorithm": jwt.algorithm,
            "audience": jwt.audience,
            "issuer": jwt.issuer,
        },
    }
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.bare_sse",
        cwd=REPO_ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(orjson.dumps(config) + b"\n")
        await child.stdin.drain()
        line = await asyncio.wait_for(child.stdout.readline(), READY_SECONDS)
        if not line.startswith(b"PORT "):
            raise RuntimeError(f"the bare SSE server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}", child.pid
    finally:
        await _stop(child)
