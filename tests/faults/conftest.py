"""The fleet under faults: the six real processes, started as `make run` starts them on free ports,
with PostgreSQL, Redis and RabbitMQ each behind a loopback TcpProxy that a test cuts and restores.

Cutting a proxy takes a dependency down for this fleet only: the machine's real servers keep
serving everyone else's tests meanwhile. Assertions read Redis, PostgreSQL and RabbitMQ directly
(not through the proxies), so they see the truth even while the fleet cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import sys
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from devtools.fleet import Fleet, fleet_processes
from devtools.tcp_proxy import TcpProxy
from devtools.testing import (
    TEST_JWT_SECRET,
    TEST_SERVICE_TOKEN,
    Account,
    delete_vhost,
    lease_redis_db,
    register_and_login,
    release_redis_db,
    settings_env,
    test_settings,
    wait_for,
)
from shared.db.migrations import drop_database
from shared.messaging.topology import QUEUES, declare_topology
from shared.settings import DatabaseSettings, Settings

# The in-process suites use Redis database 9 and the end-to-end suite 10.
REST_SECTIONS = {
    "users": "userservice",
    "tweets": "tweetservice",
    "feed": "feedservice",
    "search": "searchservice",
}
# Small follower pages make a big fan-out last long enough to be interrupted, and exercise paging.
WORKER_ENV = {"FEEDWORKER__FOLLOWERS_PAGE_SIZE": "200", "FEEDWORKER__REDIS_BATCH_SIZE": "100"}
DEPENDENCIES = ("postgresql", "redis", "rabbitmq")
# Followers made in bulk straight in the users database ($1 the followed, $2 a tag, $3 how many).
_INSERT_FOLLOWERS = """
WITH fans AS (
    INSERT INTO actors (id, email, email_key, username, password_hash)
    SELECT gen_random_uuid(), 'fan' || n || '_' || $2 || '@example.com', 'fan' || n || '_' || $2 || '@example.com',
           'fan' || n || '_' || $2, 'no-login'
    FROM generate_series(1, $3) AS n
    RETURNING id
)
INSERT INTO follows (follower_id, following_id) SELECT id, $1 FROM fans RETURNING follower_id
"""


@dataclass
class RecordingFleet(Fleet):
    """The fleet supervisor that can (re)start one process at a time and keeps every output line."""

    lines: list[str] = field(default_factory=list)

    async def start(self) -> None:
        for process in fleet_processes(self.settings):
            await self.spawn(process.name)

    async def spawn(self, name: str) -> None:
        """Start process `name` with the fleet's environment (again, after a crash)."""
        command = next(process.command for process in fleet_processes(self.settings) if process.name == name)
        child = await asyncio.create_subprocess_exec(
            *command,
            env=self._env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self.children[name] = child
        assert child.stdout is not None
        self._pumps.append(asyncio.create_task(self._record(name, child.stdout)))

    async def _record(self, name: str, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = f"{name:>13} | {line.decode(errors='replace').rstrip()}"
            self.lines.append(text)
            sys.stdout.write(text + "\n")


@dataclass
class FaultyFleet:
    """The running fleet, its proxies, clients per service, and direct access to what it stores."""

    settings: Settings
    processes: RecordingFleet
    proxies: dict[str, TcpProxy]
    http: dict[str, httpx.AsyncClient]
    redis: Redis
    amqp_url: str
    database: DatabaseSettings  # the real PostgreSQL, not the proxy
    accounts: list[Account] = field(default_factory=list)
    cut_down: set[str] = field(default_factory=set)

    # Faults

    async def cut(self, dependency: str) -> None:
        """Take PostgreSQL, Redis or RabbitMQ away from the fleet: open connections drop, new ones fail."""
        await self.proxies[dependency].stop()
        self.cut_down.add(dependency)

    async def restore(self, dependency: str) -> None:
        await self.proxies[dependency].start()
        self.cut_down.discard(dependency)

    def pid(self, name: str) -> int:
        return self.processes.children[name].pid

    async def kill(self, name: str) -> None:
        """SIGKILL: no shutdown path runs, unacked messages go back to their queue."""
        child = self.processes.children[name]
        child.send_signal(signal.SIGKILL)
        await child.wait()

    async def restart(self, name: str) -> None:
        """A new process with the same environment; REST services are waited for until live."""
        await self.processes.spawn(name)
        if name in REST_SECTIONS:
            await wait_for(lambda: self._answers(name, "/health"), timeout=60, interval=0.2)

    async def wait_ready(self, timeout: float = 60) -> None:
        for name in REST_SECTIONS:
            await wait_for(lambda name=name: self._answers(name, "/ready"), timeout=timeout, interval=0.2)

    async def _answers(self, name: str, path: str) -> bool:
        try:
            return (await self.http[name].get(path)).status_code == 200
        except httpx.HTTPError:
            return False

    # Clients' view

    async def account(self) -> Account:
        account = await register_and_login(self.http["users"])
        self.accounts.append(account)
        return account

    async def follow(self, follower: Account, followed_user: Account) -> None:
        response = await self.http["users"].post(
            f"/users/{followed_user.id}/follow", headers=follower.headers
        )
        assert response.status_code == 201, response.text

    async def post(self, author: Account, content: str) -> dict[str, Any]:
        response = await self.http["tweets"].post("/tweet", json={"content": content}, headers=author.headers)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def add_followers(self, author: Account, count: int) -> list[str]:
        """`count` new accounts following the author, inserted in bulk straight into the users
        database (no events: as if they had followed long ago); their ids, sorted."""
        async with self.db("users") as connection, connection.transaction():
            rows = await connection.fetch(_INSERT_FOLLOWERS, author.id, author.username[-8:], count)
            await connection.execute(
                "UPDATE actors SET num_followers = num_followers + $2 WHERE id = $1", author.id, count
            )
        return sorted(str(row["follower_id"]) for row in rows)

    # The truth, read directly

    async def feed(self, user_id: Any) -> list[str]:
        ids: list[str] = await self.redis.lrange(f"feed:{user_id}", 0, -1)
        return ids

    async def dead_letters(self, queue: str) -> int:
        """How many messages wait in `<queue>.dlq`."""
        connection = await aio_pika.connect(self.amqp_url)
        try:
            channel = await connection.channel()
            declared = await channel.declare_queue(QUEUES[queue].dlq, passive=True)
            return int(declared.declaration_result.message_count or 0)
        finally:
            await connection.close()

    async def purge_dead_letters(self, queue: str) -> None:
        connection = await aio_pika.connect(self.amqp_url)
        try:
            channel = await connection.channel()
            await (await channel.declare_queue(QUEUES[queue].dlq, passive=True)).purge()
        finally:
            await connection.close()

    @contextlib.asynccontextmanager
    async def db(self, name: str) -> AsyncIterator[asyncpg.Connection]:
        """A direct connection to one of the fleet's databases (users, tweets, search, notifications)."""
        connection = await asyncpg.connect(self.database.dsn(name))
        try:
            yield connection
        finally:
            await connection.close()

    def log_mark(self) -> int:
        """A position in the fleet's output, for `output(since=...)`."""
        return len(self.processes.lines)

    def output(self, since: int = 0) -> str:
        """Every line the processes printed (since a mark), each prefixed with the process name."""
        return "\n".join(self.processes.lines[since:])

    async def retried(self, queue: str, since: int, times: int = 2) -> None:
        """Wait until a worker logged `times` retries of `queue` for a dependency down (since a
        mark): proof that it met the outage, where a sleep could only hope it did."""
        needle = f"{queue}: dependency unavailable"
        await wait_for(lambda: self.output(since=since).count(needle) >= times, timeout=30, interval=0.1)


def _proxied_settings(proxies: dict[str, TcpProxy], run_id: str) -> tuple[Settings, str, str]:
    """Settings that reach every dependency through its proxy; plus the direct Redis and AMQP URLs."""
    base = Settings(
        environment="test",
        jwt={"secret": TEST_JWT_SECRET},
        internal={"service_token": TEST_SERVICE_TOKEN},
    )
    amqp = urllib.parse.urlsplit(base.rabbitmq.url.get_secret_value())
    credentials = amqp.netloc.rsplit("@", 1)[0] if "@" in amqp.netloc else "guest:guest"
    vhost = f"test_{run_id}"
    redis = urllib.parse.urlsplit(base.redis.url)
    direct_root = f"redis://{redis.hostname or '127.0.0.1'}:{redis.port or 6379}"
    redis_db = lease_redis_db(direct_root, run_id)
    settings = test_settings(
        run_id,
        database={"host": "127.0.0.1", "port": proxies["postgresql"].port},
        redis={"url": f"redis://127.0.0.1:{proxies['redis'].port}/{redis_db}"},
        rabbitmq={"url": f"amqp://{credentials}@127.0.0.1:{proxies['rabbitmq'].port}/{vhost}"},
    )
    direct_redis = f"{direct_root}/{redis_db}"
    direct_amqp = f"amqp://{credentials}@{amqp.hostname or '127.0.0.1'}:{amqp.port or 5672}/{vhost}"
    return settings, direct_redis, direct_amqp


def _dependency_proxies() -> dict[str, TcpProxy]:
    base = Settings(
        environment="test",
        jwt={"secret": TEST_JWT_SECRET},
        internal={"service_token": TEST_SERVICE_TOKEN},
    )
    redis = urllib.parse.urlsplit(base.redis.url)
    amqp = urllib.parse.urlsplit(base.rabbitmq.url.get_secret_value())
    return {
        "postgresql": TcpProxy(base.database.host, base.database.port),
        "redis": TcpProxy(redis.hostname or "127.0.0.1", redis.port or 6379),
        "rabbitmq": TcpProxy(amqp.hostname or "127.0.0.1", amqp.port or 5672),
    }


@pytest.fixture(scope="package")
async def fleet() -> AsyncIterator[FaultyFleet]:
    proxies = _dependency_proxies()
    for proxy in proxies.values():
        await proxy.start()
    run_id = secrets.token_hex(4)
    settings, direct_redis, direct_amqp = _proxied_settings(proxies, run_id)
    real_host, real_port = proxies["postgresql"].target
    direct_database = settings.database.model_copy(update={"host": real_host, "port": real_port})
    processes = RecordingFleet(settings, env={**settings_env(settings), **WORKER_ENV})
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{getattr(settings, section).rest_port}", timeout=15
                )
            )
            for name, section in REST_SECTIONS.items()
        }
        redis = Redis.from_url(direct_redis, decode_responses=True)
        running = FaultyFleet(settings, processes, proxies, clients, redis, direct_amqp, direct_database)
        try:
            await processes.migrate()
            await _declare_topology(direct_amqp)
            await processes.start()
            await processes.wait_ready(timeout=90)
            yield running
        finally:
            for dependency in list(running.cut_down):
                await running.restore(dependency)
            await processes.stop()
            await _forget_feeds(running)
            await redis.aclose()
            for proxy in proxies.values():
                await proxy.stop()
            for section in (
                settings.userservice,
                settings.tweetservice,
                settings.searchservice,
                settings.notificationservice,
            ):
                with contextlib.suppress(Exception):
                    await drop_database(direct_database, section.database)
            delete_vhost(f"test_{run_id}")
            release_redis_db(settings, direct_redis)


async def _declare_topology(amqp_url: str) -> None:
    """Queues exist before the first event, as after any earlier deployment."""
    connection = await aio_pika.connect(amqp_url)
    try:
        await declare_topology(await connection.channel())
    finally:
        await connection.close()


async def _forget_feeds(fleet: FaultyFleet) -> None:
    """Delete the feeds of this fleet's users: the Redis database may be shared with another run."""
    with contextlib.suppress(Exception):
        async with fleet.db("users") as connection:
            ids = [str(row["id"]) for row in await connection.fetch("SELECT id FROM actors")]
        for start in range(0, len(ids), 1000):
            await fleet.redis.delete(*(f"feed:{user_id}" for user_id in ids[start : start + 1000]))


@pytest.fixture(autouse=True)
async def healed(fleet: FaultyFleet) -> AsyncIterator[None]:
    """Whatever a test broke (even when it failed half-way) is back before the next one starts."""
    yield
    for dependency in list(fleet.cut_down):
        await fleet.restore(dependency)
    for name, child in list(fleet.processes.children.items()):
        if child.returncode is not None:
            await fleet.restart(name)
    await fleet.wait_ready()
