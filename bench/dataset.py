"""The benchmark's data: a power-law social graph, tweets and prefilled feeds, loaded in bulk.

Registering 10,000 users through the API would spend minutes in Argon2, so the rows are written
with COPY straight into the fleet's databases (migrated by Alembic first) and the feeds are written
to Redis with RPUSH, exactly as fan-out would have left them: each user's own tweets and those of
everyone they follow, newest first, at most 1000.

Graph: user 0 is the celebrity, followed by `celebrity_followers` users picked at random. Every
user follows a log-normal number of accounts (mean `mean_following`) picked with probability
proportional to 1 / (popularity rank + 20): a Zipf-Mandelbrot law, so follower counts follow a
power law (a few accounts with hundreds or thousands of followers, a median in single digits).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from bench import resp
from bench.config import Profile
from bench.words import sentence
from shared.auth import TokenCodec
from shared.settings import Settings

FEED_LENGTH = 1000
ZIPF_OFFSET = 20
ZIPF_EXPONENT = 1.0
PASSWORD = "bench-password-1"


def uuid7_at(ms: int, generator: random.Random) -> str:
    """A UUIDv7 string for a given Unix time in milliseconds (like shared.ids.uuid7, but any time)."""
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= generator.getrandbits(12) << 64
    value |= 0b10 << 62
    value |= generator.getrandbits(62)
    return str(uuid.UUID(int=value))


@dataclass
class Dataset:
    user_ids: list[str]  # index 0: the celebrity
    usernames: list[str]
    tokens: list[str]  # aligned with user_ids
    follows: int
    in_degree: np.ndarray
    out_degree: np.ndarray
    tweets_per_user: np.ndarray
    tweets: int
    feed_lengths: np.ndarray
    celebrity_followers: list[str]  # sorted like the database sorts uuids
    seconds: dict[str, float]

    @property
    def celebrity(self) -> str:
        return self.user_ids[0]

    @property
    def celebrity_token(self) -> str:
        return self.tokens[0]

    @property
    def last_follower(self) -> str:
        """The follower whose feed fan-out writes last (follower pages come in id order)."""
        return self.celebrity_followers[-1]

    @property
    def timeline_users(self) -> list[str]:
        return [user for user, count in zip(self.user_ids, self.tweets_per_user, strict=True) if count > 0]

    def write_tokens(self, path: Path) -> Path:
        path.write_text("\n".join(self.tokens) + "\n")
        return path

    def summary(self) -> dict[str, Any]:
        others = self.in_degree[1:]
        return {
            "users": len(self.user_ids),
            "follows": self.follows,
            "tweets": self.tweets,
            "celebrity_followers": len(self.celebrity_followers),
            "followers_per_user": _distribution(others),
            "following_per_user": _distribution(self.out_degree),
            "tweets_per_user": _distribution(self.tweets_per_user),
            "feed_length": _distribution(self.feed_lengths),
            "feed_entries": int(self.feed_lengths.sum()),
            "setup_seconds": {key: round(value, 2) for key, value in self.seconds.items()},
        }


def _distribution(values: np.ndarray) -> dict[str, float]:
    return {
        "mean": round(float(values.mean()), 2),
        "p50": float(np.percentile(values, 50)),
        "p90": float(np.percentile(values, 90)),
        "p99": float(np.percentile(values, 99)),
        "max": int(values.max()),
    }


@dataclass
class _Graph:
    followers: np.ndarray  # edge i: followers[i] follows followed_users[i] (user indexes)
    followed_users: np.ndarray


def build_graph(profile: Profile, rng: np.random.Generator) -> _Graph:
    users = profile.users
    celebrity_fans = rng.choice(np.arange(1, users), size=profile.celebrity_followers, replace=False)
    ranks = np.arange(1, users)
    weights = (ranks + ZIPF_OFFSET) ** -ZIPF_EXPONENT
    following = rng.lognormal(np.log(profile.mean_following) - 0.5, 1.0, users)
    counts = np.minimum(np.maximum(1, np.round(following)).astype(np.int64), users // 4)
    followers = np.repeat(np.arange(users), counts)
    followed_users = rng.choice(ranks, size=int(counts.sum()), p=weights / weights.sum())
    followers = np.concatenate([followers, celebrity_fans])
    followed_users = np.concatenate([followed_users, np.zeros(len(celebrity_fans), dtype=np.int64)])
    keep = followers != followed_users
    pairs = np.unique(followers[keep].astype(np.int64) * users + followed_users[keep])
    return _Graph(followers=pairs // users, followed_users=pairs % users)


def tweet_counts(profile: Profile, rng: np.random.Generator) -> np.ndarray:
    activity = rng.lognormal(0.0, 1.2, profile.users - 1)
    rest = rng.multinomial(profile.tweets - profile.celebrity_tweets, activity / activity.sum())
    return np.concatenate([[profile.celebrity_tweets], rest]).astype(np.int64)


def feeds(graph: _Graph, authors: np.ndarray, users: int, counts: np.ndarray) -> list[np.ndarray]:
    """Each user's feed as tweet indexes (higher = newer), newest first, at most FEED_LENGTH."""
    by_author = np.split(np.argsort(authors, kind="stable"), np.cumsum(counts)[:-1])
    order = np.argsort(graph.followers, kind="stable")
    following = np.split(
        graph.followed_users[order], np.cumsum(np.bincount(graph.followers, minlength=users))[:-1]
    )
    result = []
    for user in range(users):
        parts = [by_author[user], *(by_author[followed_user] for followed_user in following[user])]
        merged = np.concatenate(parts)
        merged.sort()
        result.append(merged[::-1][:FEED_LENGTH])
    return result


async def generate(profile: Profile, settings: Settings, redis_url: str, seed: int = 20261122) -> Dataset:
    """Generate the data set and load it into the fleet's databases and Redis."""
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    now_ms = int(time.time() * 1000)

    users = profile.users
    user_ms = np.sort(rng.integers(now_ms - 365 * 86_400_000, now_ms - 40 * 86_400_000, users))
    user_ids = [uuid7_at(int(ms), pick) for ms in rng.permutation(user_ms)]
    usernames = [f"bench{index:06d}" for index in range(users)]
    graph = build_graph(profile, rng)
    counts = tweet_counts(profile, rng)
    authors = rng.permutation(np.repeat(np.arange(users), counts))
    tweet_ms = np.sort(rng.integers(now_ms - 30 * 86_400_000, now_ms - 60_000, len(authors)))
    # Strictly increasing milliseconds: id order is then exactly tweet-index order.
    steps = np.arange(len(tweet_ms))
    tweet_ms = np.maximum.accumulate(tweet_ms - steps) + steps
    tweet_ids = [uuid7_at(int(ms), pick) for ms in tweet_ms]
    user_feeds = feeds(graph, authors, users, counts)
    seconds["generate"] = time.perf_counter() - started

    started = time.perf_counter()
    in_degree = np.bincount(graph.followed_users, minlength=users)
    out_degree = np.bincount(graph.followers, minlength=users)
    await _load_users(settings, user_ids, usernames, graph, in_degree, out_degree, counts, user_ms)
    contents = [sentence(pick, 5, 25) for _ in tweet_ids]
    await _load_tweets(settings, tweet_ids, authors, user_ids, contents, tweet_ms)
    seconds["postgresql"] = time.perf_counter() - started

    started = time.perf_counter()
    await _load_feeds(redis_url, user_ids, tweet_ids, user_feeds)
    seconds["redis"] = time.perf_counter() - started

    codec = TokenCodec(settings.jwt)
    tokens = [codec.issue(uuid.UUID(user), name) for user, name in zip(user_ids, usernames, strict=True)]
    fans = sorted(user_ids[index] for index in graph.followers[graph.followed_users == 0])
    return Dataset(
        user_ids=user_ids,
        usernames=usernames,
        tokens=tokens,
        follows=len(graph.followers),
        in_degree=in_degree,
        out_degree=out_degree,
        tweets_per_user=counts,
        tweets=len(tweet_ids),
        feed_lengths=np.array([len(feed) for feed in user_feeds]),
        celebrity_followers=fans,
        seconds=seconds,
    )


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def copy_rows(dsn: str, table: str, columns: Sequence[str], records: Iterable[tuple[Any, ...]]) -> None:
    """COPY rows into a table (streamed from any iterable), foreign-key triggers off, then ANALYZE."""
    connection = await asyncpg.connect(dsn)
    try:
        # Bulk load without foreign-key triggers (the generator keeps every reference valid).
        await connection.execute("SET session_replication_role = replica")
        await connection.copy_records_to_table(table, records=records, columns=list(columns))
        await connection.execute(f"ANALYZE {table}")
    finally:
        await connection.close()


async def _load_users(
    settings: Settings,
    user_ids: list[str],
    usernames: list[str],
    graph: _Graph,
    in_degree: np.ndarray,
    out_degree: np.ndarray,
    counts: np.ndarray,
    user_ms: np.ndarray,
) -> None:
    from argon2 import PasswordHasher

    from shared.text import fold

    # One real hash for everyone: the accounts can log in, and hashing stays out of the setup time.
    password_hash = PasswordHasher().hash(PASSWORD)
    dsn = settings.database.dsn(settings.userservice.database)
    actors = [
        (
            user_ids[index],
            f"{usernames[index]}@bench.example",
            fold(f"{usernames[index]}@bench.example"),
            usernames[index],
            password_hash,
            usernames[index],
            "",
            int(counts[index]),
            int(in_degree[index]),
            int(out_degree[index]),
            _at(int(user_ms[index])),
            _at(int(user_ms[index])),
        )
        for index in range(len(user_ids))
    ]
    await copy_rows(
        dsn,
        "actors",
        (
            "id",
            "email",
            "email_key",
            "username",
            "password_hash",
            "display_name",
            "bio",
            "num_tweets",
            "num_followers",
            "num_following",
            "created_at",
            "updated_at",
        ),
        actors,
    )
    followed_at = _at(int(time.time() * 1000) - 35 * 86_400_000)
    follows = [
        (user_ids[follower], user_ids[followed_user], followed_at)
        for follower, followed_user in zip(
            graph.followers.tolist(), graph.followed_users.tolist(), strict=True
        )
    ]
    await copy_rows(dsn, "follows", ("follower_id", "following_id", "created_at"), follows)


async def _load_tweets(
    settings: Settings,
    tweet_ids: list[str],
    authors: np.ndarray,
    user_ids: list[str],
    contents: list[str],
    tweet_ms: np.ndarray,
) -> None:
    times = [_at(int(ms)) for ms in tweet_ms]
    author_ids = [user_ids[author] for author in authors.tolist()]
    rows = [
        (tweet_id, author, content, 0, 0, 0, at, at)
        for tweet_id, author, content, at in zip(tweet_ids, author_ids, contents, times, strict=True)
    ]
    await copy_rows(
        settings.database.dsn(settings.tweetservice.database),
        "tweets",
        ("id", "user_id", "content", "num_likes", "num_replys", "num_reposts", "created_at", "updated_at"),
        rows,
    )
    if settings.elasticsearch.url:
        return  # the Elasticsearch fleet only measures indexing lag; it starts with an empty index
    documents = [
        (tweet_id, author, content, at, int(ms) * 1000, False)
        for tweet_id, author, content, at, ms in zip(
            tweet_ids, author_ids, contents, times, tweet_ms.tolist(), strict=True
        )
    ]
    await copy_rows(
        settings.database.dsn(settings.searchservice.database),
        "documents",
        ("id", "user_id", "content", "created_at", "version", "deleted"),
        documents,
    )


async def _load_feeds(
    redis_url: str, user_ids: list[str], tweet_ids: list[str], user_feeds: list[np.ndarray]
) -> None:
    encoded = np.array([resp.bulk(tweet_id.encode()) for tweet_id in tweet_ids], dtype=object)
    client = await resp.RawRedis.connect(redis_url)
    try:
        chunk: list[bytes] = []
        for user, feed in zip(user_ids, user_feeds, strict=True):
            if len(feed) == 0:
                continue
            header = b"*%d\r\n$5\r\nRPUSH\r\n" % (len(feed) + 2) + resp.bulk(f"feed:{user}".encode())
            chunk.append(header + b"".join(encoded[feed].tolist()))
            if len(chunk) == 500:
                await client.send(b"".join(chunk), len(chunk))
                chunk = []
        if chunk:
            await client.send(b"".join(chunk), len(chunk))
    finally:
        await client.close()
