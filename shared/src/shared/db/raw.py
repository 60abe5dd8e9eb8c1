"""Straight asyncpg for the hottest statements (one round trip, no ORM session around it).

The SQLAlchemy engine stays the default; a service takes a `raw_pool` beside it for the few paths
where the session's bookkeeping costs several times the query itself (POST /tweet, the outbox
relays). The pool connects lazily, so a process still starts while PostgreSQL is down.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import asyncpg
from opentelemetry import trace

from shared.db.engine import is_connection_error, pool_full
from shared.errors import DependencyUnavailable
from shared.settings import DatabaseSettings
from shared.telemetry import spans_exported, tracer

_tracer = tracer(__name__)


@contextlib.asynccontextmanager
async def raw_pool(settings: DatabaseSettings, database: str) -> AsyncIterator[asyncpg.Pool]:
    """An asyncpg pool of one of the fleet's databases, closed after the block."""
    pool = asyncpg.create_pool(
        settings.dsn(database),
        min_size=0,  # no connection at start-up: PostgreSQL may be down
        max_size=settings.pool_size,
        timeout=3,
        command_timeout=30,
        # A connection unused for a minute is closed rather than kept (and found dead) forever.
        max_inactive_connection_lifetime=60,
        server_settings={"application_name": database},
        reset=_keep_session,
    )
    await pool
    try:
        yield pool
    finally:
        await pool.close()


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Return a connection to the pool as it is. asyncpg's default runs a reset query (RESET ALL,
    UNLISTEN *, advisory unlocks...) on every release, a second round trip per statement; the
    statements run on these connections change no session state (an open transaction is still
    rolled back by the pool)."""


@contextlib.asynccontextmanager
async def raw_connection(pool: asyncpg.Pool, pool_timeout: float = 1.0) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection; an unreachable database becomes DependencyUnavailable (503 / UNAVAILABLE),
    no free connection within `pool_timeout` Overloaded (503 "overloaded" / RESOURCE_EXHAUSTED)."""
    try:
        async with pool.acquire(timeout=pool_timeout) as connection:
            yield connection
    except TimeoutError as exc:
        # Every connection busy: overload. Otherwise the wait was for a connection to open (down).
        if pool.get_size() >= pool.get_max_size() and pool.get_idle_size() == 0:
            raise pool_full() from exc
        raise DependencyUnavailable("the database is unavailable", dependency="postgresql") from exc
    except Exception as exc:
        if is_connection_error(exc):
            raise DependencyUnavailable("the database is unavailable", dependency="postgresql") from exc
        raise


@contextlib.contextmanager
def statement_span(name: str, sql: str) -> Iterator[None]:
    """A client span for a statement run outside SQLAlchemy, made when spans are exported (as the
    SQLAlchemy instrumentation is)."""
    if not spans_exported():
        yield
        return
    with _tracer.start_as_current_span(name, kind=trace.SpanKind.CLIENT) as span:
        span.set_attribute("db.system", "postgresql")
        span.set_attribute("db.statement", sql)
        yield
