"""Feed reads merged at read time: GET /feed throughput at p99 ≤ 50 ms for readers who each follow
`merged_authors` (20) big authors, as a ratio to plain reads (readers who follow no big author),
both measured with feed_reads' sweep (wrk, or the Python agent) in the same run, alternating which
goes first.

Setup: the big authors are synthetic accounts (bench.bigauthors) whose follower count is above
`fanout_max_followers`; only the count decides the mode, so their other followers are not loaded.
Each gets `merged_author_tweets` new tweets whose create events go through the feed worker, which
moves the author into the big-author mode and fills its list. Merged and plain readers are
alternate data-set accounts (the same feed sizes on both sides); COPY adds each merged reader's
follows. The big authors' tweets are the newest, so a merged first page is made from the 20 lists,
not from the reader's own: one page is checked to be before the sweeps. Both groups are read once
first (a warm tweet cache, as in feed_reads), after every feed process has seen the big-author set
(a copy is trusted for BIG_AUTHORS_TTL_SECONDS). Everything the setup made is deleted at the end.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from bench import bigauthors
from bench.context import Context
from bench.feedcheck import harness_redis
from bench.metrics.fanout import insert_tweets, queue_events
from bench.metrics.feed_reads import (
    P99_LIMIT_MS,
    Readers,
    at_level,
    cpu_ms_per_operation,
    fleet_sweep,
    fleet_warm_up,
    latency,
    reference_level,
)
from bench.model import Figure, Metric, Target
from bench.sweep import best_holding
from feed.authorfeeds import BIG_AUTHORS_TTL_SECONDS

TITLE = "Feed reads merged with 20 big authors' lists vs plain feed reads"


async def _make_big(ctx: Context, authors: list[bigauthors.BigAuthor]) -> None:
    """Each author's tweets through the feed worker, until every author's list holds them."""
    redis = harness_redis(ctx.fleet.redis_url)
    try:
        pending = []
        for author in authors:
            events = await insert_tweets(ctx, ctx.profile.merged_author_tweets, uuid.UUID(author.id))
            await queue_events(ctx, events)
            pending.append((author.id, [str(event.tweet_id) for event in events]))
        for author_id, ids in pending:
            await bigauthors.wait_listed(redis, author_id, ids)
    finally:
        await redis.aclose()


async def _check_merged(ctx: Context, token: str, authors: list[bigauthors.BigAuthor]) -> None:
    """A merged reader's first page comes from the big authors' lists (else the figure means nothing)."""
    async with httpx.AsyncClient(base_url=ctx.fleet.url("feed"), timeout=30) as client:
        response = await client.get("/feed?limit=20", headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    big = {author.id for author in authors}
    shown = [item["user_id"] for item in response.json()["tweets"]]
    if not shown or not set(shown) <= big:
        raise RuntimeError(f"a merged reader's page is not made from the big authors' lists: {shown}")


async def run(ctx: Context) -> Metric:
    metric = Metric("big_author_reads", TITLE)
    plain_name = "plain GET /feed (readers following no big author), the same sweep"
    throughput = Figure(
        "throughput at p99 ≤ 50 ms",
        "req/s",
        "higher",
        target=Target("ratio", ">=", 0.5),
        baseline_name=plain_name,
    )
    p99 = Figure("p99 latency at the reference concurrency", "ms", "lower", baseline_name=plain_name)
    cpu_per_request = Figure(
        "app CPU per request at the reference concurrency (feed + tweets + users)",
        "ms",
        "lower",
        baseline_name=plain_name,
    )
    metric.figures = [throughput, p99, cpu_per_request]
    count = ctx.profile.merged_readers
    # Alternate accounts after the celebrity (index 0): the same feed sizes on both sides.
    merged = list(range(1, 2 * count + 1, 2))
    plain = list(range(2, 2 * count + 2, 2))
    merged_tokens = [ctx.data.tokens[index] for index in merged]
    plain_tokens = [ctx.data.tokens[index] for index in plain]
    threshold = ctx.fleet.settings.feedworker.fanout_max_followers
    authors = await bigauthors.create(ctx, threshold + 1, ctx.profile.merged_authors)
    redis = harness_redis(ctx.fleet.redis_url)
    runs: list[dict[str, Any]] = []
    try:
        ctx.log(f"big-author reads: {len(authors)} big authors, {count} merged and {count} plain readers")
        await bigauthors.copy_follows(
            ctx, ((ctx.data.user_ids[index], author.id) for index in merged for author in authors)
        )
        await _make_big(ctx, authors)
        await asyncio.sleep(BIG_AUTHORS_TTL_SECONDS)  # every feed process has seen the new set
        await _check_merged(ctx, merged_tokens[0], authors)
        await fleet_warm_up(ctx, merged_tokens)
        await fleet_warm_up(ctx, plain_tokens)
        for repetition in ctx.repetitions:
            ctx.log(f"big-author reads: repetition {repetition + 1}")
            if repetition % 2 == 0:
                ours = await fleet_sweep(ctx, Readers("merged", merged_tokens))
                theirs = await fleet_sweep(ctx, Readers("plain", plain_tokens))
            else:
                theirs = await fleet_sweep(ctx, Readers("plain", plain_tokens))
                ours = await fleet_sweep(ctx, Readers("merged", merged_tokens))
            best_ours = best_holding(ours["steps"], P99_LIMIT_MS)
            best_theirs = best_holding(theirs["steps"], P99_LIMIT_MS)
            throughput.add(best_ours["rps"] if best_ours else 0.0, best_theirs["rps"] if best_theirs else 0.0)
            level = reference_level(ours, theirs)
            ours_step = at_level(ours, level) if level is not None else None
            theirs_step = at_level(theirs, level) if level is not None else None
            p99.add(latency(ours_step, "p99"), latency(theirs_step, "p99"))
            services = ("feed", "tweets", "users")
            cpu_per_request.add(
                cpu_ms_per_operation(ours_step, services), cpu_ms_per_operation(theirs_step, services)
            )
            runs.append({"reference_concurrency": level, "merged": ours["steps"], "plain": theirs["steps"]})
            ctx.log(
                f"  merged {throughput.fleet[-1]:.0f} req/s, plain {throughput.baseline[-1]:.0f} req/s "
                f"(p99 at c={level}: {p99.fleet[-1]} vs {p99.baseline[-1]} ms)"
            )
    finally:
        await bigauthors.remove(ctx, redis, authors)
        await redis.aclose()
    metric.details = {
        "big_authors_per_reader": len(authors),
        "readers_per_side": count,
        "tweets_per_big_author": ctx.profile.merged_author_tweets,
        "p99_limit_ms": P99_LIMIT_MS,
        "generator": "wrk" if ctx.use_wrk else "python",
        "runs": runs,
    }
    return metric
