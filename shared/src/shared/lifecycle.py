"""Context managers that build a process's clients in a lifespan and dispose of them after it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, cast

import redis.exceptions
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db.engine import build_engine, build_session_factory
from shared.errors import DependencyUnavailable, Overloaded
from shared.settings import DatabaseSettings, RedisSettings

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def database(
    settings: DatabaseSettings, name: str
) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    """An engine (connections are opened lazily, so start-up survives PostgreSQL being down)."""
    engine = build_engine(settings, name)
    try:
        yield engine, build_session_factory(engine)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def redis_outage() -> AsyncIterator[None]:
    """Redis unreachable or too slow is a dependency outage (503 / the consumer's retry path); no
    free pooled connection in time is this process being overloaded (503 "overloaded")."""
    try:
        yield
    except redis.exceptions.MaxConnectionsError as exc:
        raise Overloaded("too many concurrent requests for redis; retry shortly", dependency="redis") from exc
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise DependencyUnavailable(f"redis is unavailable ({exc})", dependency="redis") from exc


class BoundedRedisPool(BlockingConnectionPool):
    """Waits up to its timeout for a free connection, then raises MaxConnectionsError (the pool is
    full) rather than the ConnectionError a Redis outage raises."""

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(*args, **kwargs)
        except redis.exceptions.ConnectionError as exc:
            if isinstance(exc.__cause__, TimeoutError) and not isinstance(
                exc, redis.exceptions.MaxConnectionsError
            ):
                raise redis.exceptions.MaxConnectionsError(
                    f"no free connection among {self.max_connections} within {self.timeout}s"
                ) from exc
            raise


async def redis_ping(client: Redis) -> None:
    """A readiness probe of Redis (a full pool raises Overloaded: busy, not down)."""
    async with redis_outage():
        await client.ping()


def is_cluster(client: Redis) -> bool:
    """Whether `client` (from `redis_client`) talks to a Redis Cluster: multi-key calls must then stay
    within one hash slot."""
    return isinstance(client, RedisCluster)


@contextlib.asynccontextmanager
async def redis_client(settings: RedisSettings) -> AsyncIterator[Redis]:
    """A client of the configured Redis; with `cluster`, a RedisCluster (typed as Redis: it offers
    the same commands, routed by key slot, and pipelines grouped per node)."""
    if settings.cluster:
        cluster = RedisCluster.from_url(
            settings.url,
            max_connections=settings.max_connections,
            socket_timeout=settings.socket_timeout,
            socket_connect_timeout=settings.socket_timeout,
            decode_responses=True,
        )
        try:
            yield cast(Redis, cluster)
        finally:
            await cluster.aclose()
        return
    pool = BoundedRedisPool.from_url(
        settings.url,
        max_connections=settings.max_connections,
        timeout=settings.pool_timeout_seconds,
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.socket_timeout,
        health_check_interval=15,
        # A pooled connection the server (or a proxy) closed while idle fails its next command:
        # reconnect and send it once more rather than answer 503 for a Redis that is up. Only on a
        # connection error (not a timeout), and the fleet's Redis writes are idempotent scripts/SETs.
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
        decode_responses=True,
    )
    client = Redis.from_pool(pool)  # closes the pool with the client
    try:
        yield client
    finally:
        await client.aclose()


async def every(
    seconds: float, stop: asyncio.Event, step: Callable[[], Awaitable[None]], failed: str
) -> None:
    """Run `step` now and then every `seconds` until `stop` is set; a step that cannot reach its
    dependency is logged as `failed` and tried again at the next turn."""
    while not stop.is_set():
        try:
            await step()
        except (DependencyUnavailable, Overloaded, redis.exceptions.RedisError, OSError) as exc:
            logger.warning("%s (%s)", failed, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


@contextlib.asynccontextmanager
async def background(
    name: str, run: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
) -> AsyncIterator[asyncio.Event]:
    """Run `run(stop)` as a task for the duration of the block; set `stop` and await it on exit."""
    stop = asyncio.Event()

    async def guarded() -> None:
        try:
            await run(stop)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("background task %s crashed", name)

    task = asyncio.create_task(guarded(), name=name)
    try:
        yield stop
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=10)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
