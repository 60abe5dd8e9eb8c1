"""Engine and session factory; the request-scoped session commits on success and rolls back on error."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from shared.errors import DependencyUnavailable, Overloaded
from shared.settings import DatabaseSettings
from shared.telemetry import instrument_sqlalchemy
from shared.wiring import Storing, wiring_of


def build_engine(settings: DatabaseSettings, database: str) -> AsyncEngine:
    engine = create_async_engine(
        settings.url(database),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=True,
        # Past this wait for a free connection the request is shed (Overloaded), not queued on.
        pool_timeout=settings.pool_timeout_seconds,
        # Fail fast when PostgreSQL is down rather than hanging a request.
        connect_args={"timeout": 3, "command_timeout": 30, "server_settings": {"application_name": database}},
    )
    instrument_sqlalchemy(engine)
    return engine


def build_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def read_only_sessions(factory: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads that need no transaction (one SELECT): autocommit mode, so no BEGIN and
    COMMIT round trips around the query. The engine's pool is shared."""
    engine: AsyncEngine = factory.kw["bind"]
    return build_session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))


async def ping(engine: AsyncEngine) -> None:
    """A readiness probe (a full pool raises Overloaded: busy, not down)."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except PoolTimeoutError as exc:
        raise pool_full() from exc


def pool_full() -> Overloaded:
    return Overloaded("too many concurrent requests for the database; retry shortly", dependency="postgresql")


def is_connection_error(exc: BaseException) -> bool:
    """True when the database could not be reached, as opposed to a query being wrong."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        # asyncpg raises its InterfaceError both for a connection or pool that is gone and for
        # misuse (a value it cannot encode, an operation already in progress): only the first is
        # the database being unavailable; the others are bugs, answered 500.
        return not isinstance(exc, ValueError) and any(word in str(exc) for word in _GONE)
    return isinstance(exc, _UNREACHABLE)


# Errors of a database that is down, restarting or shutting down (asyncpg's own, for raw pools).
_UNREACHABLE = (
    ConnectionError,
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
)
# How asyncpg's InterfaceError says a connection or pool is gone ("connection is closed",
# "pool is closing", "connection was closed in the middle of operation").
_GONE = ("closed", "closing")


@contextlib.asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session that commits when the block succeeds and rolls back when it raises.

    An unreachable database becomes DependencyUnavailable (503 / UNAVAILABLE), never a 500.
    """
    try:
        async with factory() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
    except PoolTimeoutError as exc:
        raise pool_full() from exc
    except Exception as exc:
        if is_connection_error(exc):
            raise DependencyUnavailable("the database is unavailable", dependency="postgresql") from exc
        raise


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with transaction(wiring_of(request.app, Storing).sessions) as session:
        yield session


# scope="function": the transaction ends (commits) before the response is sent, never after it,
# so a client that got a 2xx can rely on the write, and a failed commit is answered as an error.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]


async def _request_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with transaction(wiring_of(request.app, Storing).read_sessions) as session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(_request_read_session, scope="function")]
"""A session for GET routes: autocommit reads, without BEGIN/COMMIT round trips."""
