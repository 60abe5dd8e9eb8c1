"""The table of the `search` database (PostgreSQL backend): one row per tweet, tombstones included."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import BigInteger, Boolean, Computed, DateTime, Index, Table, Text, false
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR, UUID
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
        Index("ix_documents_hashtags", "hashtags", postgresql_using="gin"),
        Index("ix_documents_mentions", "mentions", postgresql_using="gin"),
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
    hashtags: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default="{}")
    # Lower-cased usernames of the mentioned accounts (usernames never change).
    mentions: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default="{}")


class TweetTag(Base):
    """One hashtag of one live tweet of the last TRENDS_KEPT (trends): written with the document,
    so an edit or a delete takes its tags out of the counts at once."""

    __tablename__ = "tweet_tags"
    __table_args__ = (
        # Trends read (created_at range, hashtag, user_id) from this index alone.
        Index("ix_tweet_tags_created_at_hashtag_user_id", "created_at", "hashtag", "user_id"),
    )

    tweet_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    hashtag: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class UserProfile(Base):
    """An account as user search finds it; `deleted` marks a tombstone (versions as documents')."""

    __tablename__ = "user_profiles"
    __table_args__ = (
        # Prefixes (LIKE 'ab%') by btree range; candidates of other matches by GIN (migration 0003).
        Index(
            "ix_user_profiles_username_prefix",
            "username_key",
            postgresql_ops={"username_key": "text_pattern_ops"},
        ),
        Index("ix_user_profiles_name_prefix", "name_key", postgresql_ops={"name_key": "text_pattern_ops"}),
        Index("ix_user_profiles_name_word_starts", "name_word_starts", postgresql_using="gin"),
        Index("ix_user_profiles_typo_keys", "typo_keys", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    username: Mapped[str] = mapped_column(Text, nullable=False)
    display_name: Mapped[str] = mapped_column(Text, nullable=False)
    username_key: Mapped[str] = mapped_column(Text, nullable=False)  # lower-cased
    name_key: Mapped[str] = mapped_column(Text, nullable=False)  # shared.text.fold(display_name)
    num_followers: Mapped[int] = mapped_column(BigInteger, nullable=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    # Keys of the candidates of a typo match and of a display-name word prefix match; the functions
    # are defined by migration 0003, which says why.
    typo_keys: Mapped[list[str]] = mapped_column(
        ARRAY(Text),
        Computed("user_search_typo_keys(username_key) || user_search_typo_keys(name_key)", persisted=True),
    )
    name_word_starts: Mapped[list[str]] = mapped_column(
        ARRAY(Text), Computed("user_search_word_starts(name_key)", persisted=True)
    )


documents = cast(Table, Document.__table__)
tweet_tags = cast(Table, TweetTag.__table__)
user_profiles = cast(Table, UserProfile.__table__)
