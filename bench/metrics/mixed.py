"""6. Mixed workload like DeathStarBench's social network: 60% GET /feed, 30% GET /tweet/user/{id},
10% POST /tweet — the highest offered rate (open loop, constant arrivals) whose p99 ≤ 100 ms.

The fleet runs whole, workers included (posts fan out and get indexed meanwhile). The rate rises
by 1.4x per step until a step misses the target, then bisects. Baseline: the same mix and search
done by a bare script (feed: LRANGE + one SELECT; timeline: count + page query; post: INSERT into
a scratch table + confirmed publish to a scratch queue).
"""

from __future__ import annotations

from typing import Any

from bench.context import Context
from bench.environment import execute
from bench.loadgen import run_agent
from bench.metrics.feed_reads import cpu_ms_per_operation
from bench.model import Figure, Metric
from bench.ops_bare import SCRATCH_TABLE
from bench.sweep import holds

TITLE = "Mixed workload 60/30/10 (feed / user timeline / post), open loop"

P99_LIMIT_MS = 100.0
FLEET_PROCESSES = ("users", "tweets", "feed", "search", "feed_worker", "search_worker")
MIX = {"feed": 0.6, "timeline": 0.3, "post": 0.1}
START_SHARE = 0.6  # of the feed-read throughput, when measured; the search finds its way from there
DEFAULT_START_RATE = 50.0


def _sustained(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    holding = [step for step in steps if holds(step, P99_LIMIT_MS)]
    return max(holding, key=lambda step: float(step["offered_rps"]), default=None)


async def _sweep(ctx: Context, task: dict[str, Any], start_rate: float) -> dict[str, Any]:
    return await run_agent(
        {
            "task": "open_sweep",
            **task,
            "start_rate": max(5.0, start_rate),
            "factor": 1.4,
            "max_steps": ctx.profile.mixed_max_steps,
            "duration": ctx.profile.mixed_step_seconds,
            "warmup": 1.0,
            "p99_limit_ms": P99_LIMIT_MS,
            "pids": ctx.fleet.pids,
        }
    )


async def run(ctx: Context) -> Metric:
    metric = Metric("mixed", TITLE)
    figure = Figure(
        "sustained rate at p99 ≤ 100 ms",
        "req/s",
        "higher",
        baseline_name="bare script doing the same mix against Redis, PostgreSQL and RabbitMQ",
    )
    cpu_per_request = Figure(
        "app CPU per request at the sustained rate",
        "ms",
        "lower",
        baseline_name="bare script process (all six fleet processes for the fleet)",
    )
    metric.figures = [figure, cpu_per_request]
    fleet_feed, bare_feed = ctx.notes.get("feed_rps", (None, None))
    fleet_start = START_SHARE * fleet_feed if fleet_feed else DEFAULT_START_RATE
    bare_start = START_SHARE * bare_feed if bare_feed else DEFAULT_START_RATE
    fleet_task = {"ops": "http", "plan": ctx.http_plan(MIX)}
    bare_task = ctx.bare_task(MIX, with_broker=True)
    tweets_dsn = ctx.fleet.dsn("tweets")
    await execute(
        tweets_dsn,
        [f"CREATE TABLE IF NOT EXISTS {SCRATCH_TABLE} (LIKE tweets INCLUDING DEFAULTS INCLUDING INDEXES)"],
    )
    runs = []
    try:
        for repetition in ctx.repetitions:
            ctx.log(f"mixed workload: repetition {repetition + 1}")
            if repetition % 2 == 0:
                ours = await _sweep(ctx, fleet_task, fleet_start)
                await ctx.fleet.drain()
                theirs = await _sweep(ctx, bare_task, bare_start)
            else:
                theirs = await _sweep(ctx, bare_task, bare_start)
                ours = await _sweep(ctx, fleet_task, fleet_start)
                await ctx.fleet.drain()
            best_ours, best_theirs = _sustained(ours["steps"]), _sustained(theirs["steps"])
            figure.add(
                float(best_ours["offered_rps"]) if best_ours else 0.0,
                float(best_theirs["offered_rps"]) if best_theirs else 0.0,
            )
            cpu_per_request.add(
                cpu_ms_per_operation(best_ours, FLEET_PROCESSES),
                cpu_ms_per_operation(best_theirs, generator=True),
            )
            # The next repetition starts near the edge found here.
            fleet_start = 0.8 * (figure.fleet[-1] or fleet_start)
            bare_start = 0.8 * (figure.baseline[-1] or bare_start)
            runs.append({"fleet": ours["steps"], "baseline": theirs["steps"]})
            ctx.log(f"  fleet {figure.fleet[-1]:,.0f} req/s, bare {figure.baseline[-1]:,.0f} req/s")
    finally:
        await execute(tweets_dsn, [f"DROP TABLE IF EXISTS {SCRATCH_TABLE}"])
    # The overload measurement offers a multiple of this.
    ctx.notes["mixed_rps"] = (figure.fleet_median, figure.baseline_median)
    metric.details = {
        "mix": MIX,
        "p99_limit_ms": P99_LIMIT_MS,
        "generator": "python (open loop)",
        "runs": runs,
    }
    return metric
