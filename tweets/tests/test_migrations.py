"""The hand-written migration: it upgrades an empty database, downgrades cleanly, and matches models.py."""

from __future__ import annotations

import uuid
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from shared.db.engine import build_engine
from shared.db.migrations import downgrade, drop_database, migrate
from shared.settings import Settings
from tweets.main import ALEMBIC_DIR
from tweets.models import Base


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _indexes(connection: Connection) -> dict[str, set[tuple[str, ...]]]:
    inspector = inspect(connection)
    return {
        table: {tuple(index["column_names"]) for index in inspector.get_indexes(table)}  # type: ignore[misc]
        for table in ("tweets", "reply_tweets", "tweet_like", "tweet_repost")
    }


async def test_migration_upgrades_downgrades_and_matches_the_models(settings: Settings) -> None:
    scratch = settings.database.model_copy(update={"name_suffix": f"_scratch_{uuid.uuid4().hex[:6]}"})
    try:
        await migrate(scratch, "tweets", ALEMBIC_DIR)
        await downgrade(scratch, "tweets", ALEMBIC_DIR, "base")
        await migrate(scratch, "tweets", ALEMBIC_DIR)
        engine = build_engine(scratch, "tweets")
        try:
            async with engine.connect() as connection:
                assert await connection.run_sync(_differences) == []
                indexes = await connection.run_sync(_indexes)
        finally:
            await engine.dispose()
    finally:
        await drop_database(scratch, "tweets")

    assert {("user_id", "id"), ("created_at",)} <= indexes["tweets"]
    assert ("parent_id", "id") in indexes["reply_tweets"]
    assert ("tweet_id",) in indexes["tweet_like"] and ("tweet_id",) in indexes["tweet_repost"]
