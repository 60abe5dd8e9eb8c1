"""The table of the `search` database (PostgreSQL backend): one row per tweet, tombstones included."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import BigInteger, Boolean, Computed, DateTime, Index, Table, Text, false
from sqlalchemy.dialects.postgresql import TSVECTOR, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# The text-search configuration of the index and of every query; both must use the same one.
TS_CONFIG = "english"


class Base(DeclarativeBase):
    pass


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_tsv", "tsv", postgresql_using="gin"),
        Index("ix_documents_user_id_created_at", "user_id", "created_at"),
        Index("ix_documents_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)  # the tweet id
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The tweet's updated_at in microseconds since the epoch: a write applies only if newer.
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    tsv: Mapped[str] = mapped_column(
        TSVECTOR, Computed(f"to_tsvector('{TS_CONFIG}'::regconfig, content)", persisted=True), nullable=False
    )


documents = cast(Table, Document.__table__)
