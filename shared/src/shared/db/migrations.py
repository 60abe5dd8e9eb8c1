"""Create a service's database when missing and migrate it with Alembic (never create_all)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config

from shared.settings import DatabaseSettings


async def ensure_database(settings: DatabaseSettings, database: str) -> None:
    """CREATE DATABASE if it does not exist yet (PostgreSQL has no IF NOT EXISTS for it)."""
    name = database + settings.name_suffix
    connection = await asyncpg.connect(settings.dsn("postgres").rsplit("/", 1)[0] + "/postgres")
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                pass  # created concurrently by another process
    finally:
        await connection.close()


async def drop_database(settings: DatabaseSettings, database: str) -> None:
    name = database + settings.name_suffix
    connection = await asyncpg.connect(settings.dsn("postgres").rsplit("/", 1)[0] + "/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def alembic_config(alembic_dir: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(alembic_dir))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def migrate(
    settings: DatabaseSettings, database: str, alembic_dir: Path, revision: str = "head"
) -> None:
    """Create the database if needed and migrate it to `revision`.

    Alembic runs on a worker thread: env.py starts its own event loop there.
    """
    await ensure_database(settings, database)
    config = alembic_config(alembic_dir, settings.url(database))
    await asyncio.to_thread(command.upgrade, config, revision)


async def downgrade(
    settings: DatabaseSettings, database: str, alembic_dir: Path, revision: str = "base"
) -> None:
    config = alembic_config(alembic_dir, settings.url(database))
    await asyncio.to_thread(command.downgrade, config, revision)
