"""Async SQLAlchemy engine and sessions, database creation and Alembic migrations."""
