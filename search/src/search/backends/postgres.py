"""PostgreSQL full-text backend: the `documents` table of the `search` database.

Queries go through websearch_to_tsquery (it never raises on syntax) against a stored, GIN-indexed
tsvector, ranked by ts_rank_cd. Every value a client sends is a bound parameter.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from search.backends.base import IndexDocument, SearchHit, clamp_filter_time, newest_per_tweet
from search.models import TS_CONFIG, documents
from shared.db.engine import build_session_factory, transaction

# Rows per INSERT: well under PostgreSQL's limit of 65535 bound parameters.
UPSERT_CHUNK = 1_000
_UPDATED_COLUMNS = ("user_id", "content", "created_at", "version", "deleted")


class PostgresBackend:
    name = "postgresql"

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = build_session_factory(engine)

    async def setup(self) -> None:
        """The table belongs to the Alembic migrations (`search migrate`): nothing to create here."""

    async def apply(self, documents_: Sequence[IndexDocument]) -> None:
        # Sorted by id: concurrent batches lock rows in the same order, so they cannot deadlock.
        batch = sorted(newest_per_tweet(documents_), key=lambda document: document.id)
        if not batch:
            return
        async with transaction(self._sessions) as session:
            for start in range(0, len(batch), UPSERT_CHUNK):
                await session.execute(_upsert(batch[start : start + UPSERT_CHUNK]))

    async def search(
        self,
        query: str,
        *,
        user_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> tuple[list[SearchHit], int]:
        tsquery = func.websearch_to_tsquery(literal_column(f"'{TS_CONFIG}'::regconfig"), query)
        conditions: list[ColumnElement[bool]] = [
            documents.c.tsv.bool_op("@@")(tsquery),
            documents.c.deleted.is_(false()),
        ]
        if user_id is not None:
            conditions.append(documents.c.user_id == user_id)
        if since is not None:
            conditions.append(documents.c.created_at >= clamp_filter_time(since))
        if until is not None:
            conditions.append(documents.c.created_at < clamp_filter_time(until))
        score = func.ts_rank_cd(documents.c.tsv, tsquery).label("score")
        page = (
            select(documents.c.id, documents.c.user_id, documents.c.content, documents.c.created_at, score)
            .where(*conditions)
            .order_by(score.desc(), documents.c.created_at.desc(), documents.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with transaction(self._sessions) as session:
            rows = (await session.execute(page)).all()
            if (rows and len(rows) < limit) or (not rows and offset == 0):
                total = offset + len(rows)  # the last page: no need to count
            else:
                count = select(func.count()).select_from(documents).where(*conditions)
                total = int((await session.execute(count)).scalar_one())
        hits = [SearchHit(row.id, row.user_id, row.content, row.created_at, float(row.score)) for row in rows]
        return hits, total

    async def reset(self) -> None:
        async with transaction(self._sessions) as session:
            await session.execute(text("TRUNCATE documents"))

    async def ping(self) -> None:
        async with self._engine.connect() as connection:
            await connection.execute(select(documents.c.id).limit(1))

    async def close(self) -> None:
        await self._engine.dispose()


def _upsert(batch: Sequence[IndexDocument]) -> Any:
    """INSERT ... ON CONFLICT that overwrites a stored row only with a newer version."""
    statement = pg_insert(documents).values(
        [
            {
                "id": document.id,
                "user_id": document.user_id,
                "content": document.content,
                "created_at": document.created_at,
                "version": document.version,
                "deleted": document.deleted,
            }
            for document in batch
        ]
    )
    return statement.on_conflict_do_update(
        index_elements=[documents.c.id],
        set_={column: statement.excluded[column] for column in _UPDATED_COLUMNS},
        where=documents.c.version < statement.excluded.version,
    )
