"""A million followers: a synthetic author with `big_author_followers` followers (1,000,000; 100,000
in --quick), far above `[FeedWorker] fanout_max_followers`, so fan-out on write would be ~1M list
writes per tweet. Hybrid fan-out keeps the author's tweets in one list merged at read time; what is
measured is that the write path stays O(1) in followers:

- POST /tweet → 201 p50 of that author, beside the same POST by an author with few followers
  (sequential posts, the two authors interleaved);
- the feed worker's CPU per tweet of that author, beside a tweet of the small author: N tweets'
  create events are queued while the worker is paused, and its CPU is read from /proc from its
  resume until the big author's list (or every follower's feed of the small author) holds all N;
- the sampled readers following the author (real accounts among the synthetic followers) see its
  newest tweet on their next GET /feed. A feed process trusts its copy of the big-author set for
  BIG_AUTHORS_TTL_SECONDS, so "next" means a read at least that long after the author became big.

The followers are loaded with COPY (bench.bigauthors), timed and reported; everything the
measurement made (follows, accounts, tweets, search documents, Redis keys) is deleted at its end.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis

from bench import bigauthors, cpu
from bench.context import Context
from bench.feedcheck import FeedWatcher, harness_redis
from bench.metrics.fanout import insert_tweets, queue_events
from bench.metrics.tweet_to_feed import post_tweet
from bench.model import Figure, Metric, Target
from bench.stats import latency_summary
from feed.authorfeeds import BIG_AUTHORS_TTL_SECONDS
from feed.entries import feed_key
from feed.feedstore import FeedStore

TITLE = "A million followers: POST /tweet and the worker's cost per tweet stay O(1) in followers"

# The small author: a data-set account with this many followers (the most in range, for a fair
# fan-out; always far below the threshold).
SMALL_FOLLOWERS = (5, 50)


async def _small_author(ctx: Context) -> tuple[str, list[str]]:
    """A data-set account with few followers, and its followers."""
    connection = await asyncpg.connect(ctx.fleet.dsn("users"))
    try:
        author = await connection.fetchval(
            "SELECT following_id FROM follows GROUP BY following_id HAVING count(*) BETWEEN $1 AND $2 "
            "ORDER BY count(*) DESC, following_id LIMIT 1",
            *SMALL_FOLLOWERS,
        )
        if author is None:
            raise RuntimeError(f"no account with {SMALL_FOLLOWERS} followers in the data set")
        rows = await connection.fetch(
            "SELECT follower_id FROM follows WHERE following_id = $1 ORDER BY follower_id", author
        )
    finally:
        await connection.close()
    return str(author), [str(row[0]) for row in rows]


async def worker_cost(
    ctx: Context, author_id: str, delivered: Callable[[list[str]], Awaitable[float]]
) -> dict[str, Any]:
    """The feed worker's CPU for N create events of one author, queued while it was paused."""
    count = ctx.profile.big_author_tweets
    events = await insert_tweets(ctx, count, uuid.UUID(author_id))
    pids = ctx.fleet.pids
    async with ctx.fleet.paused("feed_worker"):
        await queue_events(ctx, events)
        before = cpu.snapshot(pids)
    ids = [str(event.tweet_id) for event in events]
    await delivered(ids)
    usage = cpu.usage(before, cpu.snapshot(pids))
    worker_seconds = usage.processes.get("feed_worker", 0.0) * usage.seconds
    users_seconds = usage.processes.get("users", 0.0) * usage.seconds
    return {
        "tweets": count,
        "tweet_ids": ids,
        "ms_per_tweet": 1000 * worker_seconds / count,
        "users_ms_per_tweet": 1000 * users_seconds / count,
        "cpu": usage.as_dict(),
    }


async def post_latencies(
    ctx: Context, session: aiohttp.ClientSession, tokens: Sequence[str]
) -> tuple[list[dict[str, float]], list[list[str]]]:
    """Sequential POST /tweet, the authors of `tokens` taking turns: each one's latency summary and
    the ids it posted (oldest first)."""
    seconds: list[list[float]] = [[] for _ in tokens]
    posted: list[list[str]] = [[] for _ in tokens]
    url = ctx.fleet.url("tweet")
    for index in range(ctx.profile.big_author_posts):
        for side, token in enumerate(tokens):
            started = time.perf_counter()
            posted[side].append(await post_tweet(session, url, token, f"post {index} of the O(1) check"))
            seconds[side].append(time.perf_counter() - started)
    return [latency_summary(values) for values in seconds], posted


async def readers_seeing(
    ctx: Context, session: aiohttp.ClientSession, tokens: Sequence[str], tweet_id: str
) -> int:
    """How many of the readers find `tweet_id` on the first page of their feed."""
    seen = 0
    for token in tokens:
        async with session.get(
            f"{ctx.fleet.url('feed')}/feed?limit=20", headers={"Authorization": f"Bearer {token}"}
        ) as response:
            body = await response.json()
            if response.status != 200:
                raise RuntimeError(f"GET /feed answered {response.status}: {body}")
        seen += any(item["id"] == tweet_id for item in body["tweets"])
    return seen


async def run(ctx: Context) -> Metric:
    metric = Metric("million_followers", TITLE)
    followers = ctx.profile.big_author_followers
    threshold = ctx.fleet.settings.feedworker.fanout_max_followers
    if followers <= threshold:
        raise RuntimeError(f"{followers:,} followers is not above fanout_max_followers ({threshold:,})")
    small_name = f"the same POST by an author with {SMALL_FOLLOWERS[0]}-{SMALL_FOLLOWERS[1]} followers"
    post_p50 = Figure(
        "POST /tweet 201 p50", "ms", "lower", target=Target("ratio", "<=", 1.5), baseline_name=small_name
    )
    worker_cpu = Figure(
        "feed_worker CPU per tweet",
        "ms",
        "lower",
        target=Target("ratio", "<=", 1.5),
        baseline_name="a tweet of the author with few followers",
    )
    seen = Figure(
        "sampled followers who see the newest tweet on their next GET /feed",
        "%",
        "higher",
        target=Target("absolute", ">=", 100),
    )
    metric.figures = [post_p50, worker_cpu, seen]
    small, small_followers = await _small_author(ctx)
    small_token = ctx.data.tokens[ctx.data.user_ids.index(small)]
    exclude = {small, *small_followers, ctx.data.celebrity}
    sample = [index for index, user in enumerate(ctx.data.user_ids) if user not in exclude]
    sample = sample[: ctx.profile.big_author_readers]
    readers = [ctx.data.user_ids[index] for index in sample]
    redis = harness_redis(ctx.fleet.redis_url)
    (author,) = await bigauthors.create(ctx, followers)
    small_tweets: list[str] = []
    try:
        ctx.log(f"million followers: COPY of {followers:,} follows")
        copy_seconds = await bigauthors.copy_follows(
            ctx,
            itertools.chain(
                ((reader, author.id) for reader in readers),
                (
                    (follower, author.id)
                    for follower in bigauthors.synthetic_followers(followers - len(readers))
                ),
            ),
        )
        ctx.log(f"  loaded in {copy_seconds:.1f} s")
        small_feeds = [feed_key(user) for user in (small, *small_followers)]
        watcher = FeedWatcher(redis, small_feeds, feed_key(small_followers[-1]))

        async def big_listed(ids: list[str]) -> float:
            return await bigauthors.wait_listed(redis, author.id, ids)

        async def small_delivered(ids: list[str]) -> float:
            return await watcher.wait_all(ids, poll_seconds=0.005, timeout=120)

        runs = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            # One unrecorded post each: the big author's first tweet moves it into the big-author mode.
            warm = await post_tweet(session, ctx.fleet.url("tweet"), author.token, "warming up")
            await big_listed([warm])
            big_since = time.monotonic()
            small_tweets.append(await post_tweet(session, ctx.fleet.url("tweet"), small_token, "warming up"))
            await small_delivered(small_tweets[-1:])
            for repetition in ctx.repetitions:
                ctx.log(f"million followers: repetition {repetition + 1}")
                sides = [(author.id, big_listed), (small, small_delivered)]
                if repetition % 2:
                    sides.reverse()
                costs = {side: await worker_cost(ctx, side, delivered) for side, delivered in sides}
                small_tweets.extend(costs[small]["tweet_ids"])
                worker_cpu.add(costs[author.id]["ms_per_tweet"], costs[small]["ms_per_tweet"])
                tokens = [author.token, small_token] if repetition % 2 == 0 else [small_token, author.token]
                latencies, posted = await post_latencies(ctx, session, tokens)
                big_side = tokens.index(author.token)
                small_tweets.extend(posted[1 - big_side])
                await small_delivered(posted[1 - big_side])  # before the clean-up can delete them
                post_p50.add(latencies[big_side]["p50"], latencies[1 - big_side]["p50"])
                newest = posted[big_side][-1]
                await big_listed([newest])
                await asyncio.sleep(max(0.0, BIG_AUTHORS_TTL_SECONDS - (time.monotonic() - big_since)))
                reader_tokens = [ctx.data.tokens[index] for index in sample]
                saw = await readers_seeing(ctx, session, reader_tokens, newest)
                seen.add(100.0 * saw / len(readers), None)
                runs.append(
                    {
                        "post_latency_ms": {"big": latencies[big_side], "small": latencies[1 - big_side]},
                        "worker": {
                            "big": {k: v for k, v in costs[author.id].items() if k != "tweet_ids"},
                            "small": {k: v for k, v in costs[small].items() if k != "tweet_ids"},
                        },
                        "readers_seeing": f"{saw}/{len(readers)}",
                    }
                )
                ctx.log(
                    f"  POST p50 {post_p50.fleet[-1]} ms (small author {post_p50.baseline[-1]} ms); "
                    f"worker {worker_cpu.fleet[-1]:.2f} ms/tweet (small {worker_cpu.baseline[-1]:.2f}); "
                    f"readers {saw}/{len(readers)}"
                )
    finally:
        await _clean_up(ctx, redis, author, small, small_followers, small_tweets)
        await redis.aclose()
    metric.details = {
        "followers": followers,
        "fanout_max_followers": threshold,
        "copy_seconds": round(copy_seconds, 2),
        "small_author_followers": len(small_followers),
        "sampled_readers": len(readers),
        "posts_per_author_per_run": ctx.profile.big_author_posts,
        "worker_tweets_per_run": ctx.profile.big_author_tweets,
        "runs": runs,
    }
    metric.notes.append(f"{followers:,} follows loaded with streamed COPY in {copy_seconds:.1f} s")
    if ctx.profile.big_author_followers < 1_000_000:
        metric.notes.append(f"--quick: {followers:,} followers instead of 1,000,000")
    return metric


async def _clean_up(
    ctx: Context,
    redis: Redis,
    author: bigauthors.BigAuthor,
    small: str,
    small_followers: list[str],
    small_tweets: list[str],
) -> None:
    """Delete the big author and everything it brought; the small author's tweets of this
    measurement leave the database, the index and its followers' feeds."""
    await bigauthors.remove(ctx, redis, [author])
    if small_tweets:
        await bigauthors.delete_tweets(ctx, small_tweets)
        await FeedStore(redis).remove(small_tweets, [small, *small_followers])
