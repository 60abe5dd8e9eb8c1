"""Discovery reads as load operations: GET /search/users (prefix or typo queries) and GET /trends
through the search service, and their bare twins: the very SQL the PostgreSQL backend sends
(`search.backends.postgres`), on one asyncpg pool, without HTTP, routing, validation or JSON."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
from sqlalchemy import TextClause
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

from bench.driver import Mix, WeightedOperation
from bench.ops_http import client_session
from search.backends.postgres import TRENDS_QUERY, user_search_statement

USER_LIMIT = 20
TREND_LIMIT = 10
TREND_WINDOW_SECONDS = 24 * 3600.0


def positional(statement: TextClause, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """A named-parameter statement as asyncpg runs it: `$n` placeholders and their values in order."""
    compiled = statement.bindparams(**params).compile(dialect=asyncpg_dialect.dialect())
    return compiled.string, [compiled.params[name] for name in compiled.positiontup or ()]


@contextlib.asynccontextmanager
async def discovery_mix(task: Mapping[str, Any], connections: int) -> AsyncIterator[Mix]:
    """One kind of read (task["kind"]: users or trends) over the task's queries, fleet or bare."""
    pick = random.Random()
    queries: list[str] = task.get("queries", [])
    if task["ops"] == "http":
        async with client_session(connections) as session:

            async def get(path: str, params: dict[str, str]) -> bool:
                async with session.get(f"{task['search_url']}{path}", params=params) as response:
                    await response.read()
                    return response.status == 200

            async def users() -> bool:
                return await get("/search/users", {"q": pick.choice(queries), "limit": str(USER_LIMIT)})

            async def trends() -> bool:
                return await get("/trends", {"window": "24h", "limit": str(TREND_LIMIT)})

            yield _one(task["kind"], users, trends)
        return
    pool = await asyncpg.create_pool(task["search_dsn"], min_size=1, max_size=connections)
    try:
        statements = [positional(*user_search_statement(query, USER_LIMIT)) for query in queries]
        trends_sql = positional(TRENDS_QUERY, {"seconds": TREND_WINDOW_SECONDS, "limit": TREND_LIMIT})

        async def bare_users() -> bool:
            sql, args = pick.choice(statements)
            await pool.fetch(sql, *args)
            return True

        async def bare_trends() -> bool:
            await pool.fetch(trends_sql[0], *trends_sql[1])
            return True

        yield _one(task["kind"], bare_users, bare_trends)
    finally:
        await pool.close()


def _one(kind: str, users: Any, trends: Any) -> Mix:
    return Mix([WeightedOperation(kind, 1.0, users if kind == "users" else trends)])
