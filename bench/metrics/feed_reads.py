"""1. Feed reads: GET /feed throughput at p99 ≤ 50 ms, against a bare LRANGE + one batched SELECT.

Both sides run the same closed-loop concurrency sweep over the same users (each request reads a
random user's feed, limit 20); the figure is the highest throughput of a level whose p99 held.

Before the sweeps each side reads the first page of every user's feed once (a warm-up): the sweeps
measure the steady state of a service that has been running — the fleet's tweet cache and
PostgreSQL's buffers hold the tweets that feeds show. That pass is timed too, and reported as the
cold-cache throughput (every tweet read for the first time).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

from bench.context import Context
from bench.loadgen import run_agent, wrk_closed_sweep
from bench.model import Figure, Metric, Target
from bench.ops_bare import HYDRATE
from bench.sweep import best_holding

TITLE = "Feed reads: GET /feed vs bare LRANGE + batched SELECT"

P99_LIMIT_MS = 50.0
# Both sweeps always reach this level; the latency percentiles of the two sides are compared there.
REFERENCE_CONCURRENCY = 4
WARMUP_CONCURRENCY = 8


async def _timed_pass(count: int, read: Callable[[int], Awaitable[None]]) -> float:
    """Run read(0..count-1), WARMUP_CONCURRENCY at a time; returns reads per second."""
    next_index = iter(range(count))
    started = time.perf_counter()

    async def reader() -> None:
        for index in next_index:
            await read(index)

    await asyncio.gather(*(reader() for _ in range(WARMUP_CONCURRENCY)))
    return count / (time.perf_counter() - started)


async def fleet_warm_up(ctx: Context, tokens: Sequence[str] = ()) -> float:
    """GET /feed once for every user (or the holders of `tokens`); returns the pass's requests per second."""
    tokens = tokens or ctx.data.tokens
    limits = httpx.Limits(max_connections=WARMUP_CONCURRENCY)
    async with httpx.AsyncClient(base_url=ctx.fleet.url("feed"), limits=limits, timeout=30) as client:

        async def read(index: int) -> None:
            response = await client.get("/feed", headers={"Authorization": f"Bearer {tokens[index]}"})
            response.raise_for_status()

        return await _timed_pass(len(tokens), read)


async def bare_warm_up(ctx: Context) -> float:
    """The bare script's read (LRANGE + one SELECT) once for every user; returns reads per second."""
    users = ctx.data.user_ids
    redis = Redis.from_url(ctx.fleet.redis_url, decode_responses=True)
    pool = await asyncpg.create_pool(ctx.fleet.dsn("tweets"), min_size=1, max_size=WARMUP_CONCURRENCY)
    try:

        async def read(index: int) -> None:
            ids = await redis.lrange(f"feed:{users[index]}", 0, 19)
            if ids:
                await pool.fetch(HYDRATE, ids)

        return await _timed_pass(len(users), read)
    finally:
        await pool.close()
        await redis.aclose()


async def fleet_sweep(ctx: Context, readers: Readers | None = None) -> dict[str, Any]:
    """The closed-loop sweep of GET /feed, each request as a random one of `readers` (default:
    every user of the data set)."""
    levels = list(ctx.profile.feed_concurrency)
    seconds = int(ctx.profile.step_seconds)
    plan = ctx.http_plan({"feed": 1.0})
    if readers is not None:
        plan["tokens"] = readers.tokens
    if ctx.use_wrk:
        return await wrk_closed_sweep(
            ctx.fleet.url("feed"),
            "feed",
            ctx.tokens_file if readers is None else readers.tokens_file(ctx.workdir),
            levels,
            seconds,
            P99_LIMIT_MS,
            ctx.fleet.pids,
            min_concurrency=REFERENCE_CONCURRENCY,
        )
    return await run_agent(
        {
            "task": "closed_sweep",
            "ops": "http",
            "plan": plan,
            "levels": levels,
            "duration": seconds,
            "warmup": 0.5,
            "p99_limit_ms": P99_LIMIT_MS,
            "min_concurrency": REFERENCE_CONCURRENCY,
            "pids": ctx.fleet.pids,
        }
    )


@dataclass(frozen=True)
class Readers:
    """A subset of the data set's users that a sweep reads the feeds of."""

    name: str
    tokens: list[str]

    def tokens_file(self, workdir: Path) -> Path:
        path = workdir / f"tokens-{self.name}.txt"
        path.write_text("\n".join(self.tokens) + "\n")
        return path


async def bare_sweep(ctx: Context) -> dict[str, Any]:
    return await run_agent(
        {
            "task": "closed_sweep",
            **ctx.bare_task({"feed": 1.0}),
            "levels": list(ctx.profile.feed_concurrency),
            "duration": int(ctx.profile.step_seconds),
            "warmup": 0.5,
            "p99_limit_ms": P99_LIMIT_MS,
            "min_concurrency": REFERENCE_CONCURRENCY,
            "pids": ctx.fleet.pids,
        }
    )


def at_level(sweep: dict[str, Any], level: int) -> dict[str, Any] | None:
    return next((step for step in sweep["steps"] if step["concurrency"] == level), None)


def reference_level(fleet: dict[str, Any], bare: dict[str, Any]) -> int | None:
    """REFERENCE_CONCURRENCY, or the highest level both sweeps reached below it (if one failed early)."""
    common = {step["concurrency"] for step in fleet["steps"]} & {
        step["concurrency"] for step in bare["steps"]
    }
    candidates = [level for level in common if level <= REFERENCE_CONCURRENCY]
    return max(candidates, default=min(common, default=None))


async def run(ctx: Context) -> Metric:
    metric = Metric("feed_reads", TITLE)
    throughput = Figure(
        "throughput at p99 ≤ 50 ms",
        "req/s",
        "higher",
        target=Target("ratio", ">=", 0.5),
        baseline_name="bare script: LRANGE + one SELECT ... WHERE id = ANY($1)",
    )
    p50 = Figure("p50 latency at the reference concurrency", "ms", "lower")
    p99 = Figure("p99 latency at the reference concurrency", "ms", "lower")
    cpu_per_request = Figure(
        "app CPU per request at the reference concurrency",
        "ms",
        "lower",
        baseline_name="bare script process (feed + tweets processes for the fleet)",
    )
    cold = Figure(
        "throughput of the warm-up pass (cold cache: every feed read once, 8 at a time)",
        "req/s",
        "higher",
        baseline_name="bare script, the same pass",
    )
    metric.figures = [throughput, p50, p99, cpu_per_request, cold]
    ctx.log("feed reads: warm-up, every user's feed read once on each side")
    cold.add(await fleet_warm_up(ctx), await bare_warm_up(ctx))
    ctx.log(f"  cold pass: fleet {cold.fleet[-1]:.0f} req/s, bare {cold.baseline[-1]:.0f} req/s")
    runs = []
    for repetition in ctx.repetitions:
        ctx.log(f"feed reads: repetition {repetition + 1}")
        # Alternate which side goes first, so a drift in machine load does not favour one side.
        if repetition % 2 == 0:
            fleet, bare = await fleet_sweep(ctx), await bare_sweep(ctx)
        else:
            bare, fleet = await bare_sweep(ctx), await fleet_sweep(ctx)
        best_fleet = best_holding(fleet["steps"], P99_LIMIT_MS)
        best_bare = best_holding(bare["steps"], P99_LIMIT_MS)
        throughput.add(
            best_fleet["rps"] if best_fleet else 0.0,
            best_bare["rps"] if best_bare else 0.0,
        )
        level = reference_level(fleet, bare)
        ours = at_level(fleet, level) if level is not None else None
        theirs = at_level(bare, level) if level is not None else None
        p50.add(latency(ours, "p50"), latency(theirs, "p50"))
        p99.add(latency(ours, "p99"), latency(theirs, "p99"))
        cpu_per_request.add(
            cpu_ms_per_operation(ours, ("feed", "tweets")), cpu_ms_per_operation(theirs, generator=True)
        )
        runs.append(
            {
                "reference_concurrency": level,
                "fleet_best_concurrency": best_fleet["concurrency"] if best_fleet else None,
                "baseline_best_concurrency": best_bare["concurrency"] if best_bare else None,
                "fleet": fleet["steps"],
                "baseline": bare["steps"],
            }
        )
        ctx.log(
            f"  fleet {throughput.fleet[-1]:.0f} req/s, bare {throughput.baseline[-1]:.0f} req/s "
            f"(p99 at c={level}: {p99.fleet[-1]} vs {p99.baseline[-1]} ms)"
        )
    metric.details = {
        "p99_limit_ms": P99_LIMIT_MS,
        "generator": "wrk" if ctx.use_wrk else "python",
        "runs": runs,
    }
    ctx.notes["feed_rps"] = (throughput.fleet_median, throughput.baseline_median)
    return metric


def cpu_ms_per_operation(
    step: dict[str, Any] | None, processes: tuple[str, ...] = (), generator: bool = False
) -> float | None:
    """CPU milliseconds per answered operation: of the named fleet processes, or of the generator
    (for a bare baseline, the generator IS the script doing the work)."""
    if step is None or not step.get("rps"):
        return None
    usage = step.get("cpu") or {}
    if generator:
        cores = usage.get("generator_cores")
    else:
        fleet = usage.get("fleet_cores") or {}
        cores = sum(fleet.get(name) or 0.0 for name in processes) if fleet else None
    return None if cores is None else 1000 * float(cores) / float(step["rps"])


def latency(step: dict[str, Any] | None, key: str) -> float | None:
    if step is None:
        return None
    value = step.get("latency_ms", {}).get(key)
    return None if value is None else float(value)
