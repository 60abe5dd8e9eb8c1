"""How the raw asyncpg path tells an unavailable database (503) from a statement that is wrong
(500): against the real PostgreSQL (the tweets database, which the tweets_service fixture migrates)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from shared.db.raw import raw_connection, raw_pool
from shared.errors import DependencyUnavailable, Overloaded
from shared.settings import Settings


async def test_misusing_a_connection_is_not_reported_as_the_database_being_down(
    settings: Settings, tweets_service: Any
) -> None:
    async with raw_pool(settings.database, settings.tweetservice.database) as pool:
        # Two statements at once on one connection: asyncpg's InterfaceError, a bug (500), not a 503.
        with pytest.raises(asyncpg.InterfaceError, match="another operation is in progress"):
            async with raw_connection(pool) as connection:
                await asyncio.gather(
                    connection.execute("SELECT pg_sleep(0.2)"), connection.fetchval("SELECT 1")
                )


async def test_a_connection_killed_by_the_server_is_the_database_being_unavailable(
    settings: Settings, tweets_service: Any
) -> None:
    async with raw_pool(settings.database, settings.tweetservice.database) as pool:
        with pytest.raises(DependencyUnavailable):
            async with raw_connection(pool) as connection:
                await connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")


async def test_a_closed_pool_is_the_database_being_unavailable(
    settings: Settings, tweets_service: Any
) -> None:
    async with raw_pool(settings.database, settings.tweetservice.database) as pool:
        await pool.close()
        with pytest.raises(DependencyUnavailable):
            async with raw_connection(pool) as connection:
                await connection.fetchval("SELECT 1")


async def test_no_free_connection_in_time_is_overload_not_an_outage(
    settings: Settings, tweets_service: Any
) -> None:
    one = settings.database.model_copy(update={"pool_size": 1})
    async with raw_pool(one, settings.tweetservice.database) as pool, raw_connection(pool) as busy:
        with pytest.raises(Overloaded):
            async with raw_connection(pool, pool_timeout=0.2) as connection:
                await connection.fetchval("SELECT 1")
        assert await busy.fetchval("SELECT 1") == 1
