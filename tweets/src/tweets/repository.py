"""Queries of the tweets database; counters change in single UPDATE statements (atomic)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg
from sqlalchemy import Row, Select, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.raw import statement_span
from shared.messaging.events import Entities
from shared.messaging.outbox import OutboxMessage, message_params, with_messages
from tweets.models import ReplyTweet, Tweet, TweetMark, TweetRepost, entities_of

Counter = Literal["num_likes", "num_replys", "num_reposts"]

_NEW_TWEET = (
    "INSERT INTO tweets (id, user_id, content, created_at, updated_at, num_likes, num_replys, num_reposts,"
    " hashtags, mention_ids, mention_usernames)"
    " VALUES ($1, $2, $3, $4, $4, 0, 0, 0, $5, $6, $7)"
)
_INSERT_TWEET = with_messages(_NEW_TWEET, change_params=7)
_INSERT_TWEET_QUIETLY = with_messages(_NEW_TWEET, change_params=7, notify=False)


_TWEET_COLUMNS = (
    "id, user_id, content, num_likes, num_replys, num_reposts, created_at, updated_at,"
    " hashtags, mention_ids, mention_usernames"
)
# $2 NULL: no `before` bound. Both statements use the (user_id, id) index.
_TIMELINE_FILTER = "WHERE user_id = $1 AND ($2::uuid IS NULL OR id < $2)"
_TIMELINE_COUNT = f"SELECT count(*) FROM tweets {_TIMELINE_FILTER}"
# $5 NULL: no `since` bound (since pages are the newest tweets above it, and count like the feed's:
# `total` is every tweet below `before`, so `has_more` says older ones exist).
_TIMELINE_PAGE = (
    f"SELECT {_TWEET_COLUMNS} FROM tweets {_TIMELINE_FILTER} AND ($5::uuid IS NULL OR id > $5)"
    " ORDER BY id DESC LIMIT $3 OFFSET $4"
)
# The caller's likes (true) and reposts (false) among a page's tweets: primary-key probes.
_VIEWER_STATE = (
    "SELECT tweet_id, true FROM tweet_like WHERE user_id = $1 AND tweet_id = ANY($2::uuid[])"
    " UNION ALL SELECT tweet_id, false FROM tweet_repost WHERE user_id = $1 AND tweet_id = ANY($2::uuid[])"
)

# A deleted account's likes, reposts or replies go, and the counters of the tweets they were on
# move back (rows the account no longer touches: its tokens are revoked, so no race with it).
_FORGET_MARKS = """
WITH gone AS (DELETE FROM {table} WHERE user_id = :user_id RETURNING {parent} AS tweet_id),
per AS (SELECT tweet_id, count(*) AS n FROM gone GROUP BY tweet_id)
UPDATE tweets SET {counter} = greatest({counter} - per.n, 0) FROM per WHERE tweets.id = per.tweet_id
RETURNING tweets.id
"""
_FORGET = {
    "tweet_like": text(_FORGET_MARKS.format(table="tweet_like", parent="tweet_id", counter="num_likes")),
    "tweet_repost": text(
        _FORGET_MARKS.format(table="tweet_repost", parent="tweet_id", counter="num_reposts")
    ),
    "reply_tweets": text(
        _FORGET_MARKS.format(table="reply_tweets", parent="parent_id", counter="num_replys")
    ),
}


@dataclass(frozen=True, slots=True)
class TweetRow:
    """A tweet as the raw (non-ORM) paths write and read it: the hot create and timeline reads."""

    id: uuid.UUID
    user_id: uuid.UUID
    content: str
    num_likes: int
    num_replys: int
    num_reposts: int
    created_at: datetime
    updated_at: datetime
    hashtags: Sequence[str] = ()
    mention_ids: Sequence[uuid.UUID] = ()
    mention_usernames: Sequence[str] = ()

    @property
    def entities(self) -> Entities:
        return entities_of(self)


def entity_columns(entities: Entities) -> dict[str, list[Any]]:
    """The tweets columns that store `entities`."""
    return {
        "hashtags": list(entities.hashtags),
        "mention_ids": [mention.id for mention in entities.mentions],
        "mention_usernames": [mention.username for mention in entities.mentions],
    }


async def user_timeline(
    connection: asyncpg.Connection,
    user_id: uuid.UUID,
    limit: int,
    offset: int,
    before: uuid.UUID | None,
    since: uuid.UUID | None = None,
) -> tuple[list[asyncpg.Record], int]:
    """A user's tweets newest first, and how many there are; `before` pins the page to tweets
    older than that id, `since` to the newest ones newer than that id."""
    with statement_span("SELECT tweets", _TIMELINE_COUNT):
        total = await connection.fetchval(_TIMELINE_COUNT, user_id, before)
    rows = (
        await user_tweets_before(connection, user_id, before, limit, offset, since) if total > offset else []
    )
    return rows, int(total)


async def user_tweets_before(
    connection: asyncpg.Connection,
    user_id: uuid.UUID,
    before: uuid.UUID | None,
    limit: int,
    offset: int = 0,
    since: uuid.UUID | None = None,
) -> list[asyncpg.Record]:
    """The one query for "a user's tweets, newest first, older than `before`" (REST timelines and
    gRPC GetUserTweets): raw asyncpg, measured faster than the ORM select it replaced."""
    with statement_span("SELECT tweets", _TIMELINE_PAGE):
        rows: list[asyncpg.Record] = await connection.fetch(
            _TIMELINE_PAGE, user_id, before, limit, offset, since
        )
    return rows


# Which tweets a viewer liked, and which it reposted.
ViewerState = tuple[set[uuid.UUID], set[uuid.UUID]]


async def viewer_state(
    connection: asyncpg.Connection, user_id: uuid.UUID, tweet_ids: Sequence[uuid.UUID]
) -> ViewerState:
    """Which of `tweet_ids` the user liked, and which it reposted: one statement."""
    with statement_span("SELECT tweet_like, tweet_repost", _VIEWER_STATE):
        return _flagged(await connection.fetch(_VIEWER_STATE, user_id, list(tweet_ids)))


def _flagged(rows: Iterable[Sequence[Any]]) -> ViewerState:
    liked: set[uuid.UUID] = set()
    reposted: set[uuid.UUID] = set()
    for tweet_id, is_like in rows:
        (liked if is_like else reposted).add(tweet_id)
    return liked, reposted


async def insert_tweet(
    connection: asyncpg.Connection, tweet: TweetRow, messages: Sequence[OutboxMessage], *, notify: bool
) -> None:
    """A new tweet and its outbox messages, committed together by one statement (which wakes the
    relays itself if `notify`)."""
    statement = _INSERT_TWEET if notify else _INSERT_TWEET_QUIETLY
    with statement_span("INSERT tweets", statement):
        await connection.execute(
            statement,
            tweet.id,
            tweet.user_id,
            tweet.content,
            tweet.created_at,
            list(tweet.hashtags),
            list(tweet.mention_ids),
            list(tweet.mention_usernames),
            *message_params(messages),
        )


class TweetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # Tweets

    async def get_tweet(self, tweet_id: uuid.UUID, *, for_update: bool = False) -> Tweet | None:
        query = select(Tweet).where(Tweet.id == tweet_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def author_of(self, tweet_id: uuid.UUID) -> uuid.UUID | None:
        return (
            await self.session.execute(select(Tweet.user_id).where(Tweet.id == tweet_id))
        ).scalar_one_or_none()

    async def get_tweets(self, tweet_ids: Sequence[uuid.UUID]) -> list[Row[Any]]:
        """The tweets found among `tweet_ids`, in one query, as plain rows (hydration is hot:
        feed pages call it for every read, and rows skip the ORM's identity-map bookkeeping)."""
        if not tweet_ids:
            return []
        table = Tweet.__table__
        rows = await self.session.execute(select(table).where(table.c.id.in_(tweet_ids)))
        return list(rows.all())

    async def update_content(
        self, tweet_id: uuid.UUID, content: str, entities: Entities, at: datetime
    ) -> Tweet | None:
        return (
            await self.session.execute(
                update(Tweet)
                .where(Tweet.id == tweet_id)
                .values(content=content, updated_at=at, **entity_columns(entities))
                .returning(Tweet)
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()

    async def delete_tweet(self, tweet_id: uuid.UUID) -> None:
        """Likes, reposts and replies go with it (ON DELETE CASCADE)."""
        await self.session.execute(delete(Tweet).where(Tweet.id == tweet_id))

    async def shift_counter(self, tweet_id: uuid.UUID, counter: Counter, delta: int) -> Tweet | None:
        """Add `delta` to one counter in a single UPDATE (never below zero); None if the tweet is gone."""
        column = getattr(Tweet, counter)
        return (
            await self.session.execute(
                update(Tweet)
                .where(Tweet.id == tweet_id)
                .values({counter: func.greatest(column + delta, 0)})
                .returning(Tweet)
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()

    async def forget_activity_of(self, user_id: uuid.UUID) -> set[uuid.UUID]:
        """Delete the user's likes, reposts and replies; the ids of the tweets whose counters moved."""
        changed: set[uuid.UUID] = set()
        for statement in _FORGET.values():
            rows = await self.session.execute(statement, {"user_id": user_id})
            changed.update(rows.scalars())
        return changed

    async def lock_user_tweets(self, user_id: uuid.UUID, limit: int) -> list[Tweet]:
        rows = await self.session.execute(
            select(Tweet).where(Tweet.user_id == user_id).order_by(Tweet.id).limit(limit).with_for_update()
        )
        return list(rows.scalars())

    async def tweets_after(self, after: uuid.UUID | None, limit: int) -> list[Tweet]:
        """A keyset page of every tweet in id (creation) order."""
        query = select(Tweet)
        if after is not None:
            query = query.where(Tweet.id > after)
        rows = await self.session.execute(query.order_by(Tweet.id).limit(limit))
        return list(rows.scalars())

    # Replies

    async def add_reply(
        self,
        reply_id: uuid.UUID,
        parent_id: uuid.UUID,
        user_id: uuid.UUID,
        content: str,
        at: datetime,
        entities: Entities,
    ) -> ReplyTweet:
        reply = ReplyTweet(
            id=reply_id,
            parent_id=parent_id,
            user_id=user_id,
            content=content,
            created_at=at,
            updated_at=at,
            **entity_columns(entities),
        )
        self.session.add(reply)
        await self.session.flush()
        return reply

    async def get_reply(self, reply_id: uuid.UUID) -> ReplyTweet | None:
        return await self.session.get(ReplyTweet, reply_id)

    async def delete_reply(self, reply_id: uuid.UUID) -> bool:
        deleted = await self.session.execute(
            delete(ReplyTweet).where(ReplyTweet.id == reply_id).returning(ReplyTweet.id)
        )
        return deleted.first() is not None

    async def list_replies(
        self, parent_id: uuid.UUID, limit: int, offset: int
    ) -> tuple[list[ReplyTweet], int]:
        """Replies in conversation order (oldest first)."""
        condition = ReplyTweet.parent_id == parent_id
        total = (
            await self.session.execute(select(func.count()).select_from(ReplyTweet).where(condition))
        ).scalar_one()
        rows = await self.session.execute(
            select(ReplyTweet).where(condition).order_by(ReplyTweet.id).limit(limit).offset(offset)
        )
        return list(rows.scalars()), int(total)

    # Likes and reposts

    async def add_mark(
        self, model: type[TweetMark], user_id: uuid.UUID, tweet_id: uuid.UUID
    ) -> TweetMark | None:
        """Insert the (user, tweet) mark; None if it existed already."""
        return (
            await self.session.execute(
                pg_insert(model)
                .values(user_id=user_id, tweet_id=tweet_id)
                .on_conflict_do_nothing()
                .returning(model)
            )
        ).scalar_one_or_none()

    async def viewer_state(self, user_id: uuid.UUID, tweet_ids: Sequence[uuid.UUID]) -> ViewerState:
        """`viewer_state` in this session's transaction."""
        connection = await self.session.connection()
        return _flagged(await connection.exec_driver_sql(_VIEWER_STATE, (user_id, list(tweet_ids))))

    async def remove_mark(
        self, model: type[TweetMark], user_id: uuid.UUID, tweet_id: uuid.UUID
    ) -> TweetMark | None:
        """Delete the (user, tweet) mark; the row it was, or None if there was none."""
        deleted = await self.session.execute(
            delete(model).where(model.user_id == user_id, model.tweet_id == tweet_id).returning(model)
        )
        return deleted.scalar_one_or_none()

    async def list_marks(
        self, model: type[TweetMark], user_id: uuid.UUID, limit: int, offset: int
    ) -> tuple[list[tuple[TweetMark, Tweet]], int]:
        """A user's likes (or reposts) with their tweets, most recent first."""
        total = (
            await self.session.execute(
                select(func.count()).select_from(model).where(model.user_id == user_id)
            )
        ).scalar_one()
        query: Select[tuple[TweetMark, Tweet]] = (
            select(model, Tweet)
            .join(Tweet, Tweet.id == model.tweet_id)
            .where(model.user_id == user_id)
            .order_by(model.created_at.desc(), model.tweet_id.desc())
            .limit(limit)
            .offset(offset)
        )
        rows = await self.session.execute(query)
        return [(mark, tweet) for mark, tweet in rows.tuples()], int(total)

    async def user_reposts_before(
        self, user_id: uuid.UUID, before: uuid.UUID | None, limit: int
    ) -> list[TweetRepost]:
        """A keyset page of a user's reposts, newest first (index scan on (user_id, id))."""
        query = select(TweetRepost).where(TweetRepost.user_id == user_id)
        if before is not None:
            query = query.where(TweetRepost.id < before)
        rows = await self.session.execute(query.order_by(TweetRepost.id.desc()).limit(limit))
        return list(rows.scalars())
