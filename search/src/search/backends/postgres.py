"""PostgreSQL full-text backend: the `documents` table of the `search` database.

Queries go through websearch_to_tsquery (it never raises on syntax) against a stored, GIN-indexed
tsvector, ranked by ts_rank_cd. Every value a client sends is a bound parameter.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, TextClause, delete, false, func, literal, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from search.backends.base import (
    FUZZY_MIN_LENGTH,
    TREND_WINDOWS,
    IndexDocument,
    SearchHit,
    UserDocument,
    UserHit,
    clamp_filter_time,
    newest_per_tweet,
    newest_per_user,
)
from search.models import TS_CONFIG, documents, tweet_tags, user_profiles
from shared.db.engine import build_session_factory, transaction
from shared.text import fold

# Rows per INSERT: well under PostgreSQL's limit of 65535 bound parameters.
UPSERT_CHUNK = 1_000
_UPDATED_COLUMNS = ("user_id", "content", "created_at", "version", "deleted", "hashtags", "mentions")
_USER_COLUMNS = (
    "username",
    "display_name",
    "username_key",
    "name_key",
    "num_followers",
    "version",
    "deleted",
)
# tweet_tags keeps the tags of tweets created within the longest trend window (and a margin for
# clock skew); older rows are pruned at most once per PRUNE_EVERY_SECONDS by each writer.
TAGS_KEPT = max(TREND_WINDOWS.values()) + timedelta(hours=1)
PRUNE_EVERY_SECONDS = 60.0

# One edit away from a prefix of `key`: the prefix may be one shorter or longer than the query.
_ONE_EDIT = (
    "(levenshtein_less_equal(left({key}, :n), :q, 1) <= 1"
    " OR levenshtein_less_equal(left({key}, :n + 1), :q, 1) <= 1"
    " OR levenshtein_less_equal(left({key}, :n - 1), :q, 1) <= 1)"
)
# Each branch has an index (migration 0003): btree ranges the prefixes, ix_user_profiles_name_word_starts
# the candidates of a display-name word prefix and ix_user_profiles_typo_keys those of a typo, among
# which LIKE and levenshtein decide.
# LIKE's default escape is the backslash `_like_escape` uses; an explicit ESCAPE would hide the
# pattern's fixed prefix from the planner.
_PREFIX_MATCH = (
    "username_key LIKE :prefix OR name_key LIKE :prefix"
    " OR (name_word_starts @> ARRAY[CAST(:word_start AS text)] AND name_key LIKE :word_prefix)"
)
_TYPO_MATCH = (
    "typo_keys && user_search_typo_probes(:q)"
    f" AND ({_ONE_EDIT.format(key='username_key')} OR {_ONE_EDIT.format(key='name_key')})"
)


# name_word_starts holds the first 1 to 5 characters of the display name's later words.
WORD_START_LENGTH = 5


def _user_search(match: str) -> TextClause:
    return text(
        "SELECT id, username, display_name, num_followers, count(*) OVER () AS total"
        f" FROM user_profiles WHERE NOT deleted AND ({match})"
        " ORDER BY num_followers DESC, username_key, id LIMIT :limit"
    )


_SEARCH_USERS_BY_PREFIX = _user_search(_PREFIX_MATCH)
_SEARCH_USERS_WITH_TYPOS = _user_search(f"{_PREFIX_MATCH} OR ({_TYPO_MATCH})")
TRENDS_QUERY = text(
    "SELECT hashtag, count(DISTINCT user_id) AS authors FROM tweet_tags"
    " WHERE created_at >= now() - make_interval(secs => :seconds)"
    " GROUP BY hashtag ORDER BY authors DESC, hashtag LIMIT :limit"
)


class PostgresBackend:
    name = "postgresql"

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = build_session_factory(engine)
        self._next_prune = 0.0

    async def setup(self) -> None:
        """The table belongs to the Alembic migrations (`search migrate`): nothing to create here."""

    async def apply(self, documents_: Sequence[IndexDocument]) -> None:
        # Sorted by id: concurrent batches lock rows in the same order, so they cannot deadlock.
        batch = sorted(newest_per_tweet(documents_), key=lambda document: document.id)
        if not batch:
            return
        async with transaction(self._sessions) as session:
            applied: set[uuid.UUID] = set()
            for start in range(0, len(batch), UPSERT_CHUNK):
                rows = await session.execute(_upsert(batch[start : start + UPSERT_CHUNK]))
                applied.update(rows.scalars())
            await self._retag(session, [document for document in batch if document.id in applied])

    async def _retag(self, session: AsyncSession, changed: Sequence[IndexDocument]) -> None:
        """The trend rows of the tweets whose stored version changed: the old tags go, the new come."""
        if changed:
            await session.execute(
                delete(tweet_tags).where(tweet_tags.c.tweet_id.in_([d.id for d in changed]))
            )
        recent = datetime.now(UTC) - TAGS_KEPT
        rows = [
            {"tweet_id": d.id, "hashtag": tag, "user_id": d.user_id, "created_at": d.created_at}
            for d in changed
            if not d.deleted and d.created_at >= recent
            for tag in d.hashtags
        ]
        for start in range(0, len(rows), UPSERT_CHUNK):
            await session.execute(
                pg_insert(tweet_tags).values(rows[start : start + UPSERT_CHUNK]).on_conflict_do_nothing()
            )
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
            await session.execute(delete(tweet_tags).where(tweet_tags.c.created_at < recent))

    async def search(
        self,
        query: str,
        *,
        user_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 20,
        offset: int = 0,
        hashtags: Sequence[str] = (),
        mentions: Sequence[str] = (),
    ) -> tuple[list[SearchHit], int]:
        conditions: list[ColumnElement[bool]] = [documents.c.deleted.is_(false())]
        if query:
            tsquery = func.websearch_to_tsquery(literal_column(f"'{TS_CONFIG}'::regconfig"), query)
            conditions.append(documents.c.tsv.bool_op("@@")(tsquery))
            score: Any = func.ts_rank_cd(documents.c.tsv, tsquery)
        else:
            score = literal(0.0)
        # @> on the GIN-indexed arrays: every tag (and mention) asked for is on the tweet.
        if hashtags:
            conditions.append(documents.c.hashtags.contains(list(hashtags)))
        if mentions:
            conditions.append(documents.c.mentions.contains(list(mentions)))
        if user_id is not None:
            conditions.append(documents.c.user_id == user_id)
        if since is not None:
            conditions.append(documents.c.created_at >= clamp_filter_time(since))
        if until is not None:
            conditions.append(documents.c.created_at < clamp_filter_time(until))
        score = score.label("score")
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
            await session.execute(text("TRUNCATE documents, tweet_tags"))

    async def apply_users(self, users: Sequence[UserDocument]) -> None:
        batch = sorted(newest_per_user(users), key=lambda user: user.id)
        if not batch:
            return
        statement = pg_insert(user_profiles).values([user_profile_row(user) for user in batch])
        upsert = statement.on_conflict_do_update(
            index_elements=[user_profiles.c.id],
            set_={column: statement.excluded[column] for column in _USER_COLUMNS},
            where=user_profiles.c.version < statement.excluded.version,
        )
        async with transaction(self._sessions) as session:
            await session.execute(upsert)

    async def search_users(self, query: str, limit: int) -> tuple[list[UserHit], int]:
        statement, params = user_search_statement(query, limit)
        async with transaction(self._sessions) as session:
            rows = (await session.execute(statement, params)).all()
        hits = [UserHit(row.id, row.username, row.display_name, int(row.num_followers)) for row in rows]
        return hits, int(rows[0].total) if rows else 0

    async def reset_users(self) -> None:
        async with transaction(self._sessions) as session:
            await session.execute(text("TRUNCATE user_profiles"))

    async def trends(self, window: timedelta, limit: int) -> list[tuple[str, int]]:
        async with transaction(self._sessions) as session:
            rows = await session.execute(TRENDS_QUERY, {"seconds": window.total_seconds(), "limit": limit})
            return [(row.hashtag, int(row.authors)) for row in rows]

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
                "hashtags": list(document.hashtags),
                "mentions": list(document.mentions),
            }
            for document in batch
        ]
    )
    # RETURNING lists the rows written: those whose version was newer (or new).
    return statement.on_conflict_do_update(
        index_elements=[documents.c.id],
        set_={column: statement.excluded[column] for column in _UPDATED_COLUMNS},
        where=documents.c.version < statement.excluded.version,
    ).returning(documents.c.id)


def user_profile_row(user: UserDocument) -> dict[str, Any]:
    """The user_profiles row of an account version, its search keys folded (here only)."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "username_key": user.username.lower(),
        "name_key": fold(user.display_name),
        "num_followers": user.num_followers,
        "version": user.version,
        "deleted": user.deleted,
    }


def user_search_statement(query: str, limit: int) -> tuple[TextClause, dict[str, Any]]:
    """The SQL of a user search and its parameters (the typo-tolerant form from FUZZY_MIN_LENGTH on)."""
    key = fold(query.strip())
    pattern = _like_escape(key)
    params = {
        "prefix": f"{pattern}%",
        "word_prefix": f"% {pattern}%",
        "word_start": key.split(" ", 1)[0][:WORD_START_LENGTH],
        "limit": limit,
    }
    if len(key) < FUZZY_MIN_LENGTH:
        return _SEARCH_USERS_BY_PREFIX, params
    return _SEARCH_USERS_WITH_TYPOS, {**params, "q": key, "n": len(key)}


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
