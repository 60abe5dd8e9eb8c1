"""7. The cost of metrics: GET /feed with Prometheus metrics on, beside the same feed service with
`METRICS__ENABLED=false`, measured in the same run.

A second feed service (the same processes per core, the same Redis, tweets and tweet cache) starts
on other ports with metrics off; each repetition runs the same closed loop (CONCURRENCY
connections, every request a random user's first page) against both, back to back, the order
alternating. The figures: throughput, and the feed processes' CPU per request — the figure the
noise of a shared machine moves least. Target: metrics cost under 5%.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import httpx

from bench.context import Context
from bench.loadgen import run_agent, wrk_step
from bench.metrics.feed_reads import cpu_ms_per_operation, fleet_warm_up
from bench.model import Figure, Metric, Target
from devtools.tcp_proxy import free_port

TITLE = "Metrics cost: GET /feed with metrics on vs off"
CONCURRENCY = 8


@contextlib.asynccontextmanager
async def feed_without_metrics(ctx: Context) -> AsyncIterator[tuple[str, int]]:
    """A second feed service with metrics off; yields its URL and its first process's pid."""
    rest_port, grpc_port = free_port(), free_port()
    env = {
        **os.environ,
        **ctx.fleet.env,
        "FEEDSERVICE__REST_PORT": str(rest_port),
        "FEEDSERVICE__GRPC_PORT": str(grpc_port),
        "METRICS__ENABLED": "false",
    }
    child = await asyncio.create_subprocess_exec(
        "feed", "serve", env=env, stdout=asyncio.subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{rest_port}"
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(300):
                if child.returncode is not None:
                    raise RuntimeError(f"the metrics-off feed exited with {child.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{url}/ready")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
            else:
                raise TimeoutError("the metrics-off feed did not become ready")
            assert (await client.get(f"{url}/metrics")).status_code == 404, "metrics are not off"
        yield url, child.pid
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(child.wait(), 15)
            except TimeoutError:
                child.kill()
                await child.wait()


async def _step(ctx: Context, url: str, pid: int, seconds: int) -> dict[str, Any]:
    pids = {"feed": pid}
    if ctx.use_wrk:
        return await wrk_step(url, "feed", ctx.tokens_file, CONCURRENCY, seconds, pids)
    sweep = await run_agent(
        {
            "task": "closed_sweep",
            "ops": "http",
            "plan": {**ctx.http_plan({"feed": 1.0}), "feed_url": url},
            "levels": [CONCURRENCY],
            "duration": seconds,
            "warmup": 0.5,
            "p99_limit_ms": 1e9,
            "min_concurrency": CONCURRENCY,
            "pids": pids,
        }
    )
    step: dict[str, Any] = sweep["steps"][0]
    return step


async def run(ctx: Context) -> Metric:
    metric = Metric("metrics_cost", TITLE)
    baseline = "the same feed service with METRICS__ENABLED=false"
    throughput = Figure(
        f"GET /feed throughput at concurrency {CONCURRENCY}",
        "req/s",
        "higher",
        target=Target("ratio", ">=", 0.95),
        baseline_name=baseline,
    )
    cpu = Figure(
        "feed CPU per request", "ms", "lower", target=Target("ratio", "<=", 1.05), baseline_name=baseline
    )
    metric.figures = [throughput, cpu]
    # A 5% budget needs steps long enough for the noise of a shared 2-core machine to average out
    # (10 s in the full run, 5 s in the quick one).
    seconds = max(5, int(2.5 * ctx.profile.step_seconds))
    on_url, on_pid = ctx.fleet.url("feed"), ctx.fleet.pids["feed"]
    runs = []
    if "feed_rps" not in ctx.notes:
        # Run alone (--only): every feed read once, so the tweet cache (shared by both) is warm and
        # neither side pays for filling it.
        ctx.log("metrics cost: warm-up, every user's feed read once")
        await fleet_warm_up(ctx)
    async with feed_without_metrics(ctx) as (off_url, off_pid):
        # Connections and pools of both services warm first.
        await _step(ctx, on_url, on_pid, 3)
        await _step(ctx, off_url, off_pid, 3)
        # At least two pairs, one in each order, even in the quick run: one pair is mostly noise.
        for repetition in range(max(2, ctx.profile.repetitions)):
            if repetition % 2 == 0:
                on = await _step(ctx, on_url, on_pid, seconds)
                off = await _step(ctx, off_url, off_pid, seconds)
            else:
                off = await _step(ctx, off_url, off_pid, seconds)
                on = await _step(ctx, on_url, on_pid, seconds)
            throughput.add(on.get("rps"), off.get("rps"))
            cpu.add(cpu_ms_per_operation(on, ("feed",)), cpu_ms_per_operation(off, ("feed",)))
            runs.append({"metrics_on": on, "metrics_off": off})
            ctx.log(
                f"metrics cost: on {throughput.fleet[-1] or 0:.0f} req/s, off {throughput.baseline[-1] or 0:.0f}"
                f" req/s; feed CPU/request on {cpu.fleet[-1]} vs off {cpu.baseline[-1]} ms"
            )
    metric.details = {
        "concurrency": CONCURRENCY,
        "step_seconds": seconds,
        "generator": "wrk" if ctx.use_wrk else "python",
        "runs": runs,
    }
    return metric
