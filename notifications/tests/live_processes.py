"""Notifications processes of their own (real ports, a short heartbeat, a small stream queue) and
users with tokens, for the live-stream tests that talk to the service as clients do."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from devtools.tcp_proxy import free_port
from devtools.testing import settings_env, wait_for
from shared.auth import TokenCodec
from shared.ids import uuid7
from shared.settings import Settings

QUEUE_SIZE = 16


@dataclass
class Process:
    base_url: str
    port: int
    child: asyncio.subprocess.Process


@contextlib.asynccontextmanager
async def notifications_process(settings: Settings, **env: str) -> AsyncIterator[Process]:
    port = free_port()
    environment = {
        **os.environ,
        **settings_env(settings),
        "NOTIFICATIONSERVICE__REST_PORT": str(port),
        "NOTIFICATIONSERVICE__GRPC_PORT": str(free_port()),
        "NOTIFICATIONSERVICE__HEARTBEAT_SECONDS": "0.5",
        "NOTIFICATIONSERVICE__STREAM_QUEUE_SIZE": str(QUEUE_SIZE),
        **env,
    }
    child = await asyncio.create_subprocess_exec(
        "notifications", "serve", env=environment, stdout=asyncio.subprocess.DEVNULL, stderr=None
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:

            async def ready() -> bool:
                assert child.returncode is None, "the notifications process exited"
                with contextlib.suppress(httpx.HTTPError):
                    return (await client.get("/ready")).status_code == 200
                return False

            await wait_for(ready, 60, 0.1)  # a loaded CI machine can take half a minute to start one
        yield Process(base_url, port, child)
    finally:
        if child.returncode is None:
            child.terminate()
            try:
                await asyncio.wait_for(child.wait(), 20)
            except TimeoutError:
                child.kill()
                await child.wait()


@dataclass
class User:
    id: uuid.UUID
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def user(settings: Settings, lifetime_seconds: int | None = None) -> User:
    jwt = settings.jwt
    if lifetime_seconds is not None:
        jwt = jwt.model_copy(update={"lifetime_seconds": lifetime_seconds})
    user_id = uuid7()
    return User(user_id, TokenCodec(jwt).issue(user_id, f"u{user_id.hex[:10]}"))
