"""Live delivery: from the 201 of POST /tweet (the celebrity posting) until the `update` event
has reached each of M of its followers' open SSE streams; p50 and p99 over every delivery, and
the time until the last of the M had it.

The M followers (a random sample of the celebrity's) hold GET /stream on a notifications process
of the bench's own (bench.streams); the path is the whole fleet's: tweets -> outbox -> RabbitMQ ->
feed worker (fan-out to every follower, then one pipelined publish per page) -> Redis pub/sub ->
the notifications hub -> SSE. Baseline: the bare Redis pub/sub -> SSE server (bench.bare_sse) with
the same M streams, fed by a pipelined PUBLISH to the channels of all the celebrity's followers
(as many as the feed worker publishes to), the clock starting at the first PUBLISH.
"""

from __future__ import annotations

import random
from typing import Any

from bench.context import Context
from bench.loadgen import run_agent
from bench.model import Figure, Metric, Target
from bench.streams import BARE_CHANNEL_PREFIX, bare_server, notifications_process

TITLE = "Live delivery: POST /tweet 201 → `update` on every connected follower's SSE stream"

FOLLOWERS = {"full": 1_000, "quick": 200}
HEARTBEAT_SECONDS = 15.0
GAP_SECONDS = 0.2
TIMEOUT_SECONDS = 30.0


def _task(ctx: Context, tokens: list[str]) -> dict[str, Any]:
    return {
        "task": "delivery",
        "tokens": tokens,
        "posts": ctx.profile.latency_posts,
        "gap_seconds": GAP_SECONDS,
        "timeout_seconds": TIMEOUT_SECONDS,
    }


async def _fleet(ctx: Context, tokens: list[str]) -> dict[str, Any]:
    async with notifications_process(ctx, len(tokens), HEARTBEAT_SECONDS) as (url, pid):
        result = await run_agent(
            {
                **_task(ctx, tokens),
                "mode": "fleet",
                "url": f"{url}/stream",
                "tweets_url": ctx.fleet.url("tweet"),
                "poster_token": ctx.data.celebrity_token,
                "pids": {**ctx.fleet.pids, "notifications": pid},
            },
            module="bench.stream_agent",
        )
    await ctx.fleet.drain()
    return result


async def _bare(ctx: Context, tokens: list[str]) -> dict[str, Any]:
    async with bare_server(ctx, HEARTBEAT_SECONDS) as (url, pid):
        return await run_agent(
            {
                **_task(ctx, tokens),
                "mode": "bare",
                "url": f"{url}/stream",
                "redis_url": ctx.fleet.redis_url,
                "channel_prefix": BARE_CHANNEL_PREFIX,
                "recipients": ctx.data.celebrity_followers,
                "pids": {"bare_sse": pid},
            },
            module="bench.stream_agent",
        )


async def run(ctx: Context) -> Metric:
    followers = ctx.data.celebrity_followers
    count = min(FOLLOWERS.get(ctx.profile.name, FOLLOWERS["quick"]), len(followers))
    metric = Metric("stream_delivery", TITLE)
    name = f"bare script: pipelined PUBLISH to {len(followers):,} channels → bare pub/sub → SSE server"
    p50 = Figure(f"p50 over every delivery to {count:,} streams", "ms", "lower", baseline_name=name)
    p99 = Figure(
        f"p99 over every delivery to {count:,} streams",
        "ms",
        "lower",
        target=Target("absolute", "<=", 250),
        baseline_name=name,
    )
    last = Figure(f"until the last of the {count:,} had it (median post)", "ms", "lower", baseline_name=name)
    metric.figures = [p50, p99, last]
    token_of = dict(zip(ctx.data.user_ids, ctx.data.tokens, strict=True))
    recipients = random.Random(17).sample(followers, count)
    tokens = [token_of[user] for user in recipients]
    runs = []
    for repetition in ctx.repetitions:
        ctx.log(f"stream delivery: repetition {repetition + 1}, {count:,} followers connected")
        if repetition % 2 == 0:
            ours, theirs = await _fleet(ctx, tokens), await _bare(ctx, tokens)
        else:
            theirs, ours = await _bare(ctx, tokens), await _fleet(ctx, tokens)
        p50.add(ours["latency_ms"].get("p50"), theirs["latency_ms"].get("p50"))
        p99.add(ours["latency_ms"].get("p99"), theirs["latency_ms"].get("p99"))
        last.add(ours["last_stream_latency_ms"].get("p50"), theirs["last_stream_latency_ms"].get("p50"))
        runs.append({"fleet": ours, "baseline": theirs})
        for side, result in (("fleet", ours), ("bare", theirs)):
            ctx.log(
                f"  {side}: {result['streams']:,} streams (failures {result['failures']}), "
                f"{result['deliveries']:,} deliveries, {result['incomplete_posts']} posts incomplete; "
                f"p50 {result['latency_ms'].get('p50')} / p99 {result['latency_ms'].get('p99')} ms, "
                f"last {result['last_stream_latency_ms'].get('p50')} ms"
            )
            if result["incomplete_posts"]:
                metric.notes.append(
                    f"{side}: {result['incomplete_posts']} posts did not reach every stream in {TIMEOUT_SECONDS:g} s"
                )
    metric.details = {
        "connected_followers": count,
        "followers": len(followers),
        "posts_per_run": ctx.profile.latency_posts,
        "runs": runs,
    }
    return metric
