"""3. Tweet-to-feed latency: from the 201 of POST /tweet (the celebrity posting) until the last of
the followers' feeds holds the tweet id; p50 and p99 over sequential posts.

Baseline: a bare script doing the same chain without the services — confirmed publish, consume,
follower ids by one SQL query, pipelined LPUSH+LTRIM on every follower's (scratch) list.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import aiohttp

from bench import cpu
from bench.context import Context
from bench.feedcheck import FeedWatcher, harness_redis
from bench.loadgen import run_agent
from bench.metrics.fanout import feeds_of_celebrity
from bench.model import Figure, Metric, Target
from bench.stats import latency_summary
from bench.words import sentence

TITLE = "Tweet-to-feed latency: POST /tweet 201 → the last follower's feed"

GAP_SECONDS = 0.05


async def post_tweet(session: aiohttp.ClientSession, tweets_url: str, token: str, content: str) -> str:
    """POST /tweet; the new tweet's id once the 201 has arrived."""
    async with session.post(
        f"{tweets_url}/tweet",
        json={"content": content},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        body = await response.json()
        if response.status != 201:
            raise RuntimeError(f"POST /tweet answered {response.status}: {body}")
        return str(body["id"])


async def fleet_run(ctx: Context, session: aiohttp.ClientSession, watcher: FeedWatcher) -> dict[str, Any]:
    pick = random.Random()
    latencies = []
    before = cpu.snapshot(ctx.fleet.pids)
    for _ in range(ctx.profile.latency_posts):
        tweet_id = await post_tweet(
            session, ctx.fleet.url("tweet"), ctx.data.celebrity_token, sentence(pick, 5, 20)
        )
        created = time.perf_counter()
        done_at = await watcher.wait_all([tweet_id], poll_seconds=0.002, timeout=30, depth=8)
        latencies.append(done_at - created)
        await asyncio.sleep(GAP_SECONDS)
    usage = cpu.usage(before, cpu.snapshot(ctx.fleet.pids))
    return {"samples": len(latencies), "latency_ms": latency_summary(latencies), "cpu": usage.as_dict()}


async def baseline_run(ctx: Context) -> dict[str, Any]:
    return await run_agent(
        {
            "task": "tweet_to_feed",
            "amqp_url": ctx.fleet.amqp_url,
            "users_dsn": ctx.fleet.dsn("users"),
            "redis_url": ctx.fleet.redis_url,
            "author": ctx.data.celebrity,
            "samples": ctx.profile.latency_posts,
            "gap_seconds": GAP_SECONDS,
            "pids": ctx.fleet.pids,
        }
    )


async def run(ctx: Context) -> Metric:
    metric = Metric("tweet_to_feed", TITLE)
    name = "bare script: publish → consume → SELECT followers → pipelined LPUSH+LTRIM"
    p50 = Figure("p50", "ms", "lower", target=Target("absolute", "<=", 100), baseline_name=name)
    p99 = Figure("p99", "ms", "lower", target=Target("absolute", "<=", 250), baseline_name=name)
    metric.figures = [p50, p99]
    runs = []
    redis = harness_redis(ctx.fleet.redis_url)
    watcher = FeedWatcher(redis, feeds_of_celebrity(ctx), f"feed:{ctx.data.last_follower}")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            # One unrecorded post: the first one opens connections and warms caches all along the path.
            warm = await post_tweet(session, ctx.fleet.url("tweet"), ctx.data.celebrity_token, "warming up")
            await watcher.wait_all([warm], timeout=30)
            for repetition in ctx.repetitions:
                ctx.log(f"tweet-to-feed: repetition {repetition + 1}")
                if repetition % 2 == 0:
                    ours, theirs = await fleet_run(ctx, session, watcher), await baseline_run(ctx)
                else:
                    theirs, ours = await baseline_run(ctx), await fleet_run(ctx, session, watcher)
                p50.add(ours["latency_ms"]["p50"], theirs["latency_ms"]["p50"])
                p99.add(ours["latency_ms"]["p99"], theirs["latency_ms"]["p99"])
                runs.append({"fleet": ours, "baseline": theirs})
                ctx.log(
                    f"  fleet p50 {p50.fleet[-1]} / p99 {p99.fleet[-1]} ms; "
                    f"bare p50 {p50.baseline[-1]} / p99 {p99.baseline[-1]} ms"
                )
    finally:
        await redis.aclose()
    metric.details = {
        "followers": len(ctx.data.celebrity_followers),
        "posts_per_run": ctx.profile.latency_posts,
        "runs": runs,
    }
    return metric
