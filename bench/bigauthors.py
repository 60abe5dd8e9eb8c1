"""Synthetic big authors for the "Past one machine" measurements: accounts whose follower count is
above `[FeedWorker] fanout_max_followers`, so the feed worker keeps their tweets in their own list
and GET /feed merges it at read time (feed.authorfeeds, feed.merged).

An author is an `actors` row with its follower count set; its followers are `follows` rows loaded
with COPY, streamed (never built as one list) in ascending follower-id order, so both indexes of
`follows` grow at their right edge. Followers other than the sampled readers have no account of
their own: nothing on a big author's path reads them (the worker checks the count, not the list).
`remove` deletes everything an author brought: rows, tweets and Redis keys.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from redis.asyncio import Redis

from bench.context import Context
from bench.dataset import copy_rows
from feed.authorfeeds import BIG_AUTHORS_KEY, author_feed_key
from feed.entries import feed_key
from shared.auth import TokenCodec
from shared.ids import uuid7

_FOLLOW_COLUMNS = ("follower_id", "following_id", "created_at")


@dataclass(frozen=True)
class BigAuthor:
    id: str
    username: str
    token: str


def synthetic_followers(count: int) -> Iterator[uuid.UUID]:
    """`count` distinct UUIDv7-shaped ids in ascending order (one millisecond, a counter below it)."""
    prefix = (int(time.time() * 1000) << 80) | (0x7 << 76) | (0b10 << 62)
    prefix |= random.getrandbits(12) << 64
    for index in range(count):
        yield uuid.UUID(int=prefix | index)


async def create(ctx: Context, followers: int, count: int = 1) -> list[BigAuthor]:
    """`count` accounts that users reports with `followers` followers each (rows added separately)."""
    codec = TokenCodec(ctx.fleet.settings.jwt)
    now = datetime.now(UTC)
    authors = []
    rows = []
    for _ in range(count):
        author_id = uuid7()
        username = f"big{author_id.hex[-20:]}"
        email = f"{username}@bench.example"
        # No password (no login): the bench issues the token itself.
        rows.append((author_id, email, email, username, "x", username, "", 0, followers, 0, now, now))
        authors.append(BigAuthor(str(author_id), username, codec.issue(author_id, username)))
    columns = (
        "id", "email", "email_key", "username", "password_hash", "display_name", "bio",
        "num_tweets", "num_followers", "num_following", "created_at", "updated_at",
    )  # fmt: skip
    await copy_rows(ctx.fleet.dsn("users"), "actors", columns, rows)
    return authors


async def copy_follows(ctx: Context, pairs: Iterable[tuple[uuid.UUID | str, uuid.UUID | str]]) -> float:
    """COPY (follower, followed) rows into users' `follows`, streamed; returns the seconds it took.
    Foreign-key triggers are off for the load (synthetic followers have no account)."""
    followed_at = datetime.now(UTC)
    rows = ((follower, followed, followed_at) for follower, followed in pairs)
    started = time.perf_counter()
    await copy_rows(ctx.fleet.dsn("users"), "follows", _FOLLOW_COLUMNS, rows)
    return time.perf_counter() - started


async def wait_listed(
    redis: Redis, author_id: str, tweet_ids: Sequence[str], timeout: float = 120.0
) -> float:
    """Block until the author's list holds every one of `tweet_ids`; time.perf_counter() then."""
    wanted = set(tweet_ids)
    deadline = time.perf_counter() + timeout
    while not wanted <= set(await redis.lrange(author_feed_key(author_id), 0, len(wanted) + 50)):
        if time.perf_counter() > deadline:
            raise TimeoutError(f"author {author_id}'s list did not get its tweets in {timeout}s")
        await asyncio.sleep(0.005)
    return time.perf_counter()


async def remove(ctx: Context, redis: Redis, authors: Sequence[BigAuthor]) -> None:
    """Delete the authors' follows, tweets (and their search documents) and accounts, their lists,
    own feeds and big-author mark."""
    ids = [uuid.UUID(author.id) for author in authors]
    await _delete_where(ctx, "user_id", ids)
    connection = await asyncpg.connect(ctx.fleet.dsn("users"))
    try:
        await connection.execute("DELETE FROM follows WHERE following_id = ANY($1::uuid[])", ids)
        await connection.execute("DELETE FROM actors WHERE id = ANY($1::uuid[])", ids)
    finally:
        await connection.close()
    for author in authors:
        await redis.delete(author_feed_key(author.id), feed_key(author.id))
        await redis.srem(BIG_AUTHORS_KEY, author.id)


async def delete_tweets(ctx: Context, tweet_ids: Sequence[str]) -> None:
    """Delete tweets (and their search documents) a measurement made; feeds are the caller's."""
    await _delete_where(ctx, "id", [uuid.UUID(tweet_id) for tweet_id in tweet_ids])


async def _delete_where(ctx: Context, column: str, values: list[uuid.UUID]) -> None:
    targets = [("tweets", "tweets")]
    if not ctx.fleet.settings.elasticsearch.url:
        targets.append(("search", "documents"))  # the PostgreSQL search backend's index
    for database, table in targets:
        connection = await asyncpg.connect(ctx.fleet.dsn(database))
        try:
            await connection.execute(f"DELETE FROM {table} WHERE {column} = ANY($1::uuid[])", values)
        finally:
            await connection.close()
