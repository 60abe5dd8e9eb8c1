"""The benchmark's own fleet: the six real processes with their own databases, RabbitMQ vhost and
Redis database, started like `make run` (devtools.fleet.Fleet) and torn down completely at the end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from redis.asyncio import Redis

from bench import cpu
from devtools.fleet import Fleet
from devtools.testing import (
    TEST_JWT_SECRET,
    TEST_SERVICE_TOKEN,
    delete_vhost,
    settings_env,
    test_settings,
    vhost_of,
)
from shared.db.migrations import drop_database
from shared.settings import Settings

# Redis databases the benchmark may take (the tests use 9, the end-to-end tests 10); the first
# empty one is used and flushed at the end.
REDIS_DB_CANDIDATES = (13, 14, 15, 12, 11)
QUEUES = ("general_tweets", "feed_follows", "search_tweets")
WORKERS = ("feed_worker", "search_worker")
# The busiest services run one process per core, as docker-compose runs them.
SERVICE_WORKERS = max(1, os.cpu_count() or 1)
DATABASES = ("users", "tweets", "search", "notifications")


async def _free_redis_db(base_url: str) -> str:
    root = base_url.rsplit("/", 1)[0]
    for db in REDIS_DB_CANDIDATES:
        client = Redis.from_url(f"{root}/{db}")
        try:
            if await client.dbsize() == 0:
                return f"{root}/{db}"
        finally:
            await client.aclose()
    raise RuntimeError(f"no empty Redis database among {REDIS_DB_CANDIDATES}; flush one of them")


@dataclass
class BenchFleet:
    elasticsearch_url: str = ""
    settings: Settings = field(init=False)
    env: dict[str, str] = field(init=False)
    fleet: Fleet = field(init=False)
    _paused: set[str] = field(default_factory=set)

    async def start(self) -> None:
        redis_url = await _free_redis_db(
            Settings(
                environment="test",
                jwt={"secret": TEST_JWT_SECRET},
                internal={"service_token": TEST_SERVICE_TOKEN},
            ).redis.url
        )
        run_id = "bench" + secrets.token_hex(3)
        index = f"bench_{run_id}"
        self.settings = test_settings(
            run_id,
            redis={"url": redis_url},
            database={"pool_size": 10, "max_overflow": 20},
            log_level="WARNING",
            ratelimit={"enabled": False},
            elasticsearch={"url": self.elasticsearch_url, "index": index},
            # The read and write paths as they would be deployed here: one process per core.
            feedservice={"workers": SERVICE_WORKERS},
            tweetservice={"workers": SERVICE_WORKERS},
        )
        self.env = {
            **settings_env(self.settings),
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "WARNING",
            "ELASTICSEARCH__INDEX": index,
        }
        # Child processes (the agent) inherit it: CPU accounting then counts our PostgreSQL backends only.
        os.environ[cpu.POSTGRES_MARKER_VARIABLE] = self.settings.database.name_suffix
        self.fleet = Fleet(self.settings, env=self.env, log_prefix=True)
        await self.fleet.migrate()
        await self.fleet.start()
        await self.fleet.wait_ready(timeout=120)

    async def stop(self) -> None:
        """Stop the processes, drop the databases, delete the vhost, flush the Redis database."""
        if not hasattr(self, "settings"):
            return  # nothing was created
        if hasattr(self, "fleet"):
            self.resume(*self._paused)
            with contextlib.suppress(Exception):
                await self.fleet.stop()
        for name in DATABASES:
            with contextlib.suppress(Exception):
                await drop_database(self.settings.database, name)
        await asyncio.to_thread(delete_vhost, vhost_of(self.settings))
        with contextlib.suppress(Exception):
            client = Redis.from_url(self.settings.redis.url)
            await client.flushdb()
            await client.aclose()
        if self.elasticsearch_url:
            await _delete_index(self.elasticsearch_url, self.settings.elasticsearch.index)

    # Where things are.

    def url(self, service: str) -> str:
        section = getattr(self.settings, f"{service}service")
        return f"http://{section.host}:{section.rest_port}"

    def dsn(self, database: str) -> str:
        return self.settings.database.dsn(database)

    @property
    def amqp_url(self) -> str:
        return self.settings.rabbitmq.url.get_secret_value()

    @property
    def redis_url(self) -> str:
        return self.settings.redis.url

    @property
    def pids(self) -> dict[str, int]:
        return {name: child.pid for name, child in self.fleet.children.items()}

    # Process control: workers are paused so that one path can be measured alone.

    def pause(self, *names: str) -> None:
        for name in names:
            os.kill(self.pids[name], signal.SIGSTOP)
            self._paused.add(name)

    def resume(self, *names: str) -> None:
        for name in names:
            with contextlib.suppress(ProcessLookupError, KeyError):
                os.kill(self.pids[name], signal.SIGCONT)
            self._paused.discard(name)

    @contextlib.asynccontextmanager
    async def paused(self, *names: str) -> AsyncIterator[None]:
        self.pause(*names)
        try:
            yield
        finally:
            self.resume(*names)

    def alive(self) -> None:
        for name, child in self.fleet.children.items():
            if child.returncode is not None:
                raise RuntimeError(f"fleet process {name} exited with code {child.returncode}")

    # Waiting for the asynchronous work to finish between measurements.

    async def queue_depths(self) -> dict[str, int]:
        """Messages ready + unacknowledged per queue (rabbitmqctl: slow, only between measurements)."""
        completed = await asyncio.to_thread(
            subprocess.run,
            [
                "rabbitmqctl",
                "-q",
                "list_queues",
                "-p",
                vhost_of(self.settings),
                "name",
                "messages_ready",
                "messages_unacknowledged",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        depths = {}
        for line in completed.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit():
                depths[parts[0]] = int(parts[1]) + int(parts[2])
        return depths

    async def pending_outbox(self) -> int:
        connection = await asyncpg.connect(self.dsn("tweets"))
        try:
            return int(await connection.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        finally:
            await connection.close()

    async def drain(self, timeout: float = 180.0) -> float:
        """Wait until the outbox is sent and the consumers' queues are empty; returns seconds waited."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            self.alive()
            if await self.pending_outbox() == 0:
                depths = await self.queue_depths()
                if all(depths.get(name, 0) == 0 for name in QUEUES):
                    return loop.time() - started
            if loop.time() - started > timeout:
                raise TimeoutError(f"the fleet did not drain in {timeout}s")
            await asyncio.sleep(0.5)


async def _delete_index(url: str, index: str) -> None:
    import httpx

    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=10) as client:
            await client.delete(f"{url.rstrip('/')}/{index}")


async def execute(dsn: str, statements: Iterable[str], *args: Any) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await connection.execute(statement, *args)
    finally:
        await connection.close()
