"""A stateless service run as several processes (`workers`): they share the REST and gRPC ports,
all of them answer, and they stop together — with the first one's SIGTERM, and by themselves when
it is SIGKILLed."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devtools.testing import release_redis_db, settings_env, wait_for
from devtools.testing import test_settings as isolated_settings
from shared.settings import Settings

pytestmark = pytest.mark.e2e
WORKERS = 3


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(b")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state != b"Z"


@pytest.fixture
def feed_settings() -> Iterator[Settings]:
    value = isolated_settings()
    yield value
    release_redis_db(value)


@pytest.fixture
async def feed_processes(feed_settings: Settings) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {**os.environ, **settings_env(feed_settings), "FEEDSERVICE__WORKERS": str(WORKERS)}
    process = await asyncio.create_subprocess_exec("feed", "serve", env=env, start_new_session=True)
    try:
        yield process
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


async def test_workers_share_the_ports_answer_and_stop_together(
    feed_settings: Settings, feed_processes: asyncio.subprocess.Process
) -> None:
    section = feed_settings.feedservice
    async with httpx.AsyncClient(base_url=f"http://{section.host}:{section.rest_port}") as client:

        async def healthy() -> bool:
            try:
                return (await client.get("/health")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(healthy, timeout=60, interval=0.2)
        await wait_for(lambda: len(children_of(feed_processes.pid)) == WORKERS - 1, timeout=30)
        # Fresh connections are spread over the processes; every one of them is served.
        for _ in range(30):
            async with httpx.AsyncClient(base_url=f"http://{section.host}:{section.rest_port}") as fresh:
                assert (await fresh.get("/health")).status_code == 200
    async with grpc.aio.insecure_channel(section.grpc_target) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING

    workers = children_of(feed_processes.pid)
    feed_processes.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert await asyncio.wait_for(feed_processes.wait(), timeout=30) in (0, -signal.SIGTERM)
    await wait_for(lambda: not any(alive(pid) for pid in workers), timeout=30)


async def test_the_other_workers_stop_when_the_first_is_killed(
    feed_settings: Settings, feed_processes: asyncio.subprocess.Process
) -> None:
    await wait_for(lambda: len(children_of(feed_processes.pid)) == WORKERS - 1, timeout=60)
    workers = children_of(feed_processes.pid)

    feed_processes.send_signal(signal.SIGKILL)
    await feed_processes.wait()

    await wait_for(lambda: not any(alive(pid) for pid in workers), timeout=30)
