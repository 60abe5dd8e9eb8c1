"""4. Compose throughput: POST /tweet per second, counted once each tweet's event is confirmed by
RabbitMQ (outbox row sent), against a raw windowed confirmed publish of as many messages.

Fleet: closed-loop POST /tweet as random users for a bounded time; the clock stops when the last
outbox row of the run is marked published. The consumers (feed_worker, search_worker) are paused
meanwhile so that the write path is measured alone; their backlog is drained before the next step.
Baseline: one script publishing persistent messages with publisher confirms, at most 200 in flight
(the outbox relay's batch), through a fanout exchange into two durable queues (as tweet_events
routes a create into general_tweets and search_tweets).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from bench import cpu
from bench.context import Context
from bench.environment import WORKERS
from bench.loadgen import run_agent, wrk_step
from bench.model import Figure, Metric, Target

TITLE = "Compose: POST /tweet, outbox + confirmed publish"

PUBLISH_WINDOW = 200
RELAY_TIMEOUT_SECONDS = 120.0


async def _outbox_high_water(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval("SELECT coalesce(max(id), 0) FROM outbox"))
    finally:
        await connection.close()


async def _wait_published(dsn: str, after_id: int) -> tuple[int, float]:
    """Poll until every rabbitmq outbox row after `after_id` is sent: (rows, seconds from the first
    row's transaction to the poll that found them all sent — both on PostgreSQL's clock, so the
    load generator's start-up is not counted)."""
    connection = await asyncpg.connect(dsn)
    deadline = time.perf_counter() + RELAY_TIMEOUT_SECONDS
    try:
        while True:
            rows, pending, seconds = await connection.fetchrow(
                "SELECT count(*), count(*) FILTER (WHERE published_at IS NULL), "
                "extract(epoch FROM clock_timestamp() - min(created_at)) FROM outbox "
                "WHERE id > $1 AND destination = 'rabbitmq'",
                after_id,
            )
            if pending == 0 and rows:
                return int(rows), float(seconds)
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{pending} outbox rows still unsent after {RELAY_TIMEOUT_SECONDS}s")
            await asyncio.sleep(0.02)
    finally:
        await connection.close()


async def _relay_batches(dsn: str, after_id: int) -> dict[str, float]:
    """Mean rows per relay pass, per destination: a pass marks its whole batch sent with one
    now(), so the distinct published_at values are the passes."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT destination, count(*)::float / count(DISTINCT published_at) FROM outbox"
            " WHERE id > $1 AND published_at IS NOT NULL GROUP BY destination",
            after_id,
        )
        return {row[0]: round(row[1], 1) for row in rows}
    finally:
        await connection.close()


async def fleet_run(ctx: Context) -> dict[str, Any]:
    dsn = ctx.fleet.dsn("tweets")
    after = await _outbox_high_water(dsn)
    pids = ctx.fleet.pids
    before = cpu.snapshot(pids)
    if ctx.use_wrk:
        http = await wrk_step(
            ctx.fleet.url("tweet"),
            "post",
            ctx.tokens_file,
            ctx.profile.compose_concurrency,
            int(ctx.profile.compose_seconds),
            pids,
            max_requests=ctx.profile.compose_max_requests,
        )
    else:
        sweep = await run_agent(
            {
                "task": "closed_sweep",
                "ops": "http",
                "plan": ctx.http_plan({"post": 1.0}),
                "levels": [ctx.profile.compose_concurrency],
                "duration": ctx.profile.compose_seconds,
                "max_requests": ctx.profile.compose_max_requests,
                "warmup": 0.0,
                "p99_limit_ms": 1e9,
                "pids": pids,
            }
        )
        http = sweep["steps"][0]
    published, seconds = await _wait_published(dsn, after)
    batches = await _relay_batches(dsn, after)
    usage = cpu.usage(before, cpu.snapshot(pids))
    # users is on the write path too: the outbox relay calls its IncrementTweetsBatch once per batch.
    app_cores = usage.processes.get("tweets", 0.0) + usage.processes.get("users", 0.0)
    return {
        "cpu_ms_per_tweet": 1000 * app_cores * usage.seconds / max(published, 1),
        "created": http["ok"],
        "published": published,
        "seconds": round(seconds, 3),
        "rate": published / seconds,
        "http": http,
        "rows_per_relay_pass": batches,
        "cpu": usage.as_dict(),
    }


async def baseline_run(ctx: Context, messages: int) -> dict[str, Any]:
    return await run_agent(
        {
            "task": "publish",
            "amqp_url": ctx.fleet.amqp_url,
            "messages": messages,
            "window": PUBLISH_WINDOW,
            "pids": ctx.fleet.pids,
        }
    )


async def run(ctx: Context) -> Metric:
    metric = Metric("compose", TITLE)
    figure = Figure(
        "tweets created and published per second",
        "tweets/s",
        "higher",
        target=Target("ratio", ">=", 0.5),
        baseline_name=f"raw confirmed publish, window {PUBLISH_WINDOW} (messages/s)",
    )
    cpu_per_tweet = Figure(
        "app CPU per tweet",
        "ms",
        "lower",
        baseline_name="publisher process, per message (tweets + users processes for the fleet)",
    )
    metric.figures = [figure, cpu_per_tweet]
    runs = []
    for repetition in ctx.repetitions:
        ctx.log(f"compose: repetition {repetition + 1}")
        async with ctx.fleet.paused(*WORKERS):
            if repetition % 2 == 0:
                ours = await fleet_run(ctx)
                theirs = await baseline_run(ctx, ctx.profile.publish_messages)
            else:
                theirs = await baseline_run(ctx, ctx.profile.publish_messages)
                ours = await fleet_run(ctx)
        drained = await ctx.fleet.drain()
        figure.add(ours["rate"], theirs["rate"])
        cpu_per_tweet.add(ours["cpu_ms_per_tweet"], theirs["cpu_ms_per_message"])
        runs.append({"fleet": ours, "baseline": theirs, "drain_seconds": round(drained, 1)})
        ctx.log(
            f"  fleet {ours['rate']:,.0f} tweets/s ({ours['http']['rps']:,.0f} HTTP 201/s, "
            f"p99 {ours['http']['latency_ms'].get('p99')} ms, rows per relay pass "
            f"{ours['rows_per_relay_pass']}); raw publish {theirs['rate']:,.0f} msg/s"
        )
    metric.details = {
        "concurrency": ctx.profile.compose_concurrency,
        "seconds_per_run": ctx.profile.compose_seconds,
        "consumers_paused": list(WORKERS),
        "runs": runs,
    }
    return metric
