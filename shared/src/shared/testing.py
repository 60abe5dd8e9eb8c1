"""Helpers for the fleet's integration tests: real PostgreSQL, Redis and RabbitMQ, isolated per run.

Each test session gets its own databases (a random suffix on every database name), migrated by
Alembic, and its own RabbitMQ virtual host, so test runs never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.settings import Settings

TEST_JWT_SECRET = "test-secret-" + "x" * 40


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_settings(run_id: str | None = None, **overrides: Any) -> Settings:
    """Settings for one test session: its own database suffix, vhost and ports; env still wins for hosts."""
    run_id = run_id or secrets.token_hex(4)
    base = Settings(environment="test", jwt={"secret": TEST_JWT_SECRET})
    vhost = f"test_{run_id}"
    create_vhost(vhost)
    amqp = urllib.parse.urlsplit(base.rabbitmq.url.get_secret_value())
    amqp_url = urllib.parse.urlunsplit((amqp.scheme, amqp.netloc, "/" + urllib.parse.quote(vhost, safe=""), "", ""))
    redis_db = int(os.environ.get("TEST_REDIS_DB", "9"))
    redis_url = base.redis.url.rsplit("/", 1)[0] + f"/{redis_db}"
    data: dict[str, Any] = {
        "environment": "test",
        "jwt": {"secret": TEST_JWT_SECRET},
        "database": {**base.database.model_dump(), "name_suffix": f"_test_{run_id}", "pool_size": 5},
        "rabbitmq": {"url": amqp_url},
        "redis": {"url": redis_url},
        "ratelimit": {"enabled": False},
        "feedworker": {"retry_base_seconds": 0.05, "retry_max_seconds": 0.5},
        "searchworker": {"retry_base_seconds": 0.05, "retry_max_seconds": 0.5},
    }
    for section in ("userservice", "tweetservice", "feedservice", "searchservice"):
        current = getattr(base, section).model_dump()
        data[section] = {**current, "rest_port": free_port(), "grpc_port": free_port()}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Settings(**data)


def rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl (the local broker); tests skip vhost isolation when it is not there."""
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def create_vhost(vhost: str) -> None:
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")


def delete_vhost(vhost: str) -> None:
    try:
        rabbitmqctl("delete_vhost", vhost)
    except (subprocess.CalledProcessError, FileNotFoundError, subprocess.TimeoutExpired):
        pass


def vhost_of(settings: Settings) -> str:
    path = urllib.parse.urlsplit(settings.rabbitmq.url.get_secret_value()).path
    return urllib.parse.unquote(path.lstrip("/"))


async def truncate_all(engine: AsyncEngine, keep: tuple[str, ...] = ("alembic_version",)) -> None:
    """Empty every table of a database between tests (faster than re-migrating)."""
    async with engine.begin() as connection:
        names = (
            await connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        ).scalars().all()
        targets = [f'"{name}"' for name in names if name not in keep]
        if targets:
            await connection.execute(text(f"TRUNCATE {', '.join(targets)} RESTART IDENTITY CASCADE"))


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll an (async) predicate until it returns something truthy; fail the test after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


REPO_ROOT = Path(__file__).resolve().parents[3]
