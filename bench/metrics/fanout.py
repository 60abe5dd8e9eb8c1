"""2. Fan-out: deliveries per second of ONE feed_worker process for the celebrity's followers,
against raw pipelined LPUSH+LTRIM into Redis (`redis-cli --pipe`).

Fleet: N tweets of the celebrity are written to the tweets database and their `tweet.create`
events queued on general_tweets while the feed worker is paused (SIGSTOP); the clock starts when it
is resumed and stops when the last feed holds all N. deliveries = N * (followers + the author).
Baseline: the same number of LPUSH+LTRIM pairs, generated up front, piped by `redis-cli --pipe`
into scratch keys (one per follower), which are deleted afterwards.
Beside the rate: CPU per 1000 deliveries of the client side (feed_worker + the users process
answering GetFollowers, against the redis-cli process) and of Redis itself.
Reposts travel the same way: the celebrity reposts N fresh tweets of an account nobody follows
(`tweet.repost` events), each becoming a repost entry in the celebrity's and every follower's feed
(deliveries as above; the repost script also checks the feed does not hold the tweet already),
against the same baseline.
"""

from __future__ import annotations

import asyncio
import resource
import shutil
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
from redis.asyncio import Redis

from bench import cpu, resp
from bench.context import Context
from bench.feedcheck import FeedWatcher, harness_redis
from bench.loadgen import run_with_rusage
from bench.model import Figure, Metric, Target
from bench.words import sentence
from feed.entries import repost_entry
from shared.ids import uuid7, uuid7_time_ms
from shared.messaging.events import TweetActionEvent, TweetEvent
from shared.messaging.topology import FEED_TWEETS_QUEUE, TWEET_CREATE, TWEET_REPOST

TITLE = "Fan-out: one feed_worker, the 10,000-follower author"

TARGET_DELIVERIES_PER_SECOND = 100_000
FANOUT_TIMEOUT_SECONDS = 180.0


async def insert_celebrity_tweets(ctx: Context, count: int) -> list[TweetEvent]:
    """Real tweets (so feeds stay hydratable) and their create events, not yet published."""
    return await insert_tweets(ctx, count, uuid.UUID(ctx.data.celebrity))


async def insert_tweets(ctx: Context, count: int, author: uuid.UUID) -> list[TweetEvent]:
    """`count` tweets of `author` and their create events, not yet published."""
    import random

    pick = random.Random()
    events = []
    rows = []
    for _ in range(count):
        tweet_id = uuid7()
        at = datetime.fromtimestamp(uuid7_time_ms(tweet_id) / 1000, UTC)
        content = sentence(pick, 5, 20)
        rows.append((tweet_id, author, content, 0, 0, 0, at, at))
        events.append(
            TweetEvent(
                event_type=TWEET_CREATE,
                tweet_id=tweet_id,
                user_id=author,
                content=content,
                created_at=at,
                updated_at=at,
            )
        )
    connection = await asyncpg.connect(ctx.fleet.dsn("tweets"))
    try:
        await connection.copy_records_to_table(
            "tweets",
            records=rows,
            columns=[
                "id",
                "user_id",
                "content",
                "num_likes",
                "num_replys",
                "num_reposts",
                "created_at",
                "updated_at",
            ],
        )
    finally:
        await connection.close()
    return events


async def insert_celebrity_reposts(ctx: Context, count: int) -> list[TweetActionEvent]:
    """The celebrity's reposts of `count` fresh tweets by an account nobody follows (so no feed
    holds them yet): the tweets, the repost rows and their repost events, not yet published."""
    reposter = uuid.UUID(ctx.data.celebrity)
    author = uuid7()
    tweets = await insert_tweets(ctx, count, author)
    events = [
        TweetActionEvent(
            event_type=TWEET_REPOST,
            tweet_id=tweet.tweet_id,
            author_id=author,
            user_id=reposter,
            repost_id=uuid7(),
        )
        for tweet in tweets
    ]
    connection = await asyncpg.connect(ctx.fleet.dsn("tweets"))
    try:
        await connection.copy_records_to_table(
            "tweet_repost",
            records=[(reposter, event.tweet_id, event.occurred_at, event.repost_id) for event in events],
            columns=["user_id", "tweet_id", "created_at", "id"],
        )
    finally:
        await connection.close()
    return events


def entry_of(event: TweetEvent | TweetActionEvent) -> str:
    """The feed entry an event makes: the tweet id, or the repost entry."""
    if isinstance(event, TweetActionEvent):
        assert event.repost_id is not None
        return repost_entry(event.repost_id, event.tweet_id, event.user_id)
    return str(event.tweet_id)


async def queue_events(ctx: Context, events: list[TweetEvent] | list[TweetActionEvent]) -> None:
    """Put create (or repost) events straight on general_tweets (the feed worker's queue only)."""
    connection = await aio_pika.connect_robust(ctx.fleet.amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await asyncio.gather(
            *(
                channel.default_exchange.publish(
                    aio_pika.Message(
                        event.model_dump_json().encode(),
                        content_type="application/json",
                        message_id=str(event.event_id),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=FEED_TWEETS_QUEUE,
                )
                for event in events
            )
        )
    finally:
        await connection.close()


def feeds_of_celebrity(ctx: Context) -> list[str]:
    return [f"feed:{user}" for user in [ctx.data.celebrity, *ctx.data.celebrity_followers]]


async def fleet_run(ctx: Context, redis: Redis, reposts: bool = False) -> dict[str, Any]:
    count = ctx.profile.fanout_tweets
    events: list[TweetEvent] | list[TweetActionEvent] = (
        await insert_celebrity_reposts(ctx, count) if reposts else await insert_celebrity_tweets(ctx, count)
    )
    watcher = FeedWatcher(redis, feeds_of_celebrity(ctx), f"feed:{ctx.data.last_follower}")
    pids = ctx.fleet.pids
    async with ctx.fleet.paused("feed_worker"):
        await queue_events(ctx, events)
        before = cpu.snapshot(pids)
        started = time.perf_counter()
    done_at = await watcher.wait_all(
        [entry_of(event) for event in events], poll_seconds=0.005, timeout=FANOUT_TIMEOUT_SECONDS
    )
    usage = cpu.usage(before, cpu.snapshot(pids))
    deliveries = count * (len(ctx.data.celebrity_followers) + 1)
    seconds = done_at - started
    # The worker and the follower lookups it makes are the client side of the fan-out.
    client_cores = usage.processes.get("feed_worker", 0.0) + usage.processes.get("users", 0.0)
    return {
        "tweets": count,
        "deliveries": deliveries,
        "seconds": round(seconds, 4),
        "rate": deliveries / seconds,
        "client_ms_per_1000": 1000 * client_cores * usage.seconds / deliveries * 1000,
        "redis_ms_per_1000": _redis_ms_per_1000(usage, deliveries),
        "cpu": usage.as_dict(),
    }


async def baseline_run(ctx: Context) -> dict[str, Any]:
    count = ctx.profile.fanout_tweets
    users = [ctx.data.celebrity, *ctx.data.celebrity_followers]
    keys = [f"benchpipe:{user}".encode() for user in users]
    parts = []
    commands = 0
    for _ in range(count):
        payload, replies = resp.push_and_trim(keys, str(uuid7()).encode())
        parts.append(payload)
        commands += replies
    path = ctx.workdir / "fanout.resp"
    path.write_bytes(b"".join(parts))
    host, port, db = resp.redis_address(ctx.fleet.redis_url)
    pids = ctx.fleet.pids
    before = cpu.snapshot(pids)
    if shutil.which("redis-cli"):
        command = ["redis-cli", "-h", host, "-p", str(port), "-n", str(db), "--pipe"]
        started = time.perf_counter()
        code, output, _err, client_seconds = await asyncio.to_thread(run_with_rusage, command, 300, path)
        seconds = time.perf_counter() - started
        tool = "redis-cli --pipe"
        if code != 0 or "errors: 0" not in output:
            raise RuntimeError(f"redis-cli --pipe failed: {output}")
    else:
        client = await resp.RawRedis.connect(ctx.fleet.redis_url)
        payload = await asyncio.to_thread(path.read_bytes)
        own = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        await client.send(payload, commands)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        client_seconds = after.ru_utime + after.ru_stime - own.ru_utime - own.ru_stime
        await client.close()
        tool = "one pipelined connection (redis-cli not found)"
    usage = cpu.usage(before, cpu.snapshot(pids), client_seconds)
    path.unlink()
    cleanup = await resp.RawRedis.connect(ctx.fleet.redis_url)
    for start in range(0, len(keys), 1000):
        await cleanup.send(resp.command(b"UNLINK", *keys[start : start + 1000]), 1)
    await cleanup.close()
    deliveries = count * len(keys)
    return {
        "tool": tool,
        "deliveries": deliveries,
        "commands": commands,
        "seconds": round(seconds, 4),
        "rate": deliveries / seconds,
        "client_ms_per_1000": 1000 * client_seconds / deliveries * 1000,
        "redis_ms_per_1000": _redis_ms_per_1000(usage, deliveries),
        "cpu": usage.as_dict(),
    }


def _redis_ms_per_1000(usage: cpu.CpuUsage, deliveries: int) -> float:
    """Redis CPU per 1000 deliveries (Redis is shared: other users' commands count too)."""
    return 1000 * usage.infra.get("redis", 0.0) * usage.seconds / deliveries * 1000


async def run(ctx: Context) -> Metric:
    metric = Metric("fanout", TITLE)
    figure = Figure(
        "deliveries per second",
        "deliveries/s",
        "higher",
        target=Target("absolute", ">=", TARGET_DELIVERIES_PER_SECOND),
        baseline_name="raw pipelined LPUSH+LTRIM (redis-cli --pipe)",
    )
    client_cpu = Figure(
        "client CPU per 1000 deliveries",
        "ms",
        "lower",
        baseline_name="redis-cli --pipe process",
    )
    redis_cpu = Figure(
        "Redis CPU per 1000 deliveries",
        "ms",
        "lower",
        baseline_name="Redis serving redis-cli --pipe",
    )
    repost_figure = Figure(
        "repost deliveries per second",
        "deliveries/s",
        "higher",
        target=Target("absolute", ">=", TARGET_DELIVERIES_PER_SECOND),
        baseline_name="raw pipelined LPUSH+LTRIM (redis-cli --pipe)",
    )
    metric.figures = [figure, client_cpu, redis_cpu, repost_figure]
    runs = []
    redis = harness_redis(ctx.fleet.redis_url)
    try:
        for repetition in ctx.repetitions:
            ctx.log(f"fan-out: repetition {repetition + 1}")
            if repetition % 2 == 0:
                ours, theirs = await fleet_run(ctx, redis), await baseline_run(ctx)
            else:
                theirs, ours = await baseline_run(ctx), await fleet_run(ctx, redis)
            figure.add(ours["rate"], theirs["rate"])
            client_cpu.add(ours["client_ms_per_1000"], theirs["client_ms_per_1000"])
            redis_cpu.add(ours["redis_ms_per_1000"], theirs["redis_ms_per_1000"])
            # Reposts beside a baseline of their own, measured right after.
            reposted = await fleet_run(ctx, redis, reposts=True)
            repost_baseline = await baseline_run(ctx)
            repost_figure.add(reposted["rate"], repost_baseline["rate"])
            runs.append(
                {"fleet": ours, "baseline": theirs, "reposts": reposted, "reposts_baseline": repost_baseline}
            )
            ctx.log(
                f"  feed_worker {ours['rate']:,.0f}/s (reposts {reposted['rate']:,.0f}/s), "
                f"redis-cli --pipe {theirs['rate']:,.0f}/s ({repost_baseline['rate']:,.0f}/s)"
            )
    finally:
        await redis.aclose()
    metric.details = {
        "followers": len(ctx.data.celebrity_followers),
        "tweets_per_run": ctx.profile.fanout_tweets,
        "runs": runs,
    }
    return metric
