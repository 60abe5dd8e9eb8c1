"""The profiling step of a run: which loads run while py-spy samples which fleet processes, and how
the result reads in the summary."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.context import Context
from bench.feedcheck import FeedWatcher, harness_redis
from bench.loadgen import run_agent, wrk_step
from bench.metrics import fanout
from bench.profiling import profile_during, py_spy_command


async def profile_fleet(ctx: Context) -> dict[str, Any]:
    """Sample the fleet with py-spy under three loads: feed reads, fan-out, compose."""
    command = await asyncio.to_thread(py_spy_command)
    if command is None:
        return {"error": "py-spy not available (neither on PATH nor through uvx)"}
    folder = ctx.workdir / "profiles"
    folder.mkdir(exist_ok=True)
    seconds = int(ctx.profile.profile_seconds) + 1
    pids = ctx.fleet.pids
    results: dict[str, Any] = {"tool": " ".join(command)}

    async def feed_load() -> Any:
        if ctx.use_wrk:
            return await wrk_step(ctx.fleet.url("feed"), "feed", ctx.tokens_file, 16, seconds, pids)
        return await run_agent(
            {"task": "closed_sweep", "ops": "http", "plan": ctx.http_plan({"feed": 1.0}), "levels": [16],
             "duration": seconds, "warmup": 0.0, "p99_limit_ms": 1e9, "pids": pids}
        )  # fmt: skip

    async def compose_load() -> Any:
        if ctx.use_wrk:
            return await wrk_step(ctx.fleet.url("tweet"), "post", ctx.tokens_file, 16, seconds, pids)
        return await run_agent(
            {"task": "closed_sweep", "ops": "http", "plan": ctx.http_plan({"post": 1.0}), "levels": [16],
             "duration": seconds, "warmup": 0.0, "p99_limit_ms": 1e9, "pids": pids}
        )  # fmt: skip

    async def fanout_load() -> Any:
        # Bursts like the fan-out measurement's, each queued once the last one is delivered: the
        # worker stays busy for the whole window and leaves no backlog behind.
        deadline = time.monotonic() + seconds
        redis = harness_redis(ctx.fleet.redis_url)
        watcher = FeedWatcher(redis, fanout.feeds_of_celebrity(ctx), f"feed:{ctx.data.last_follower}")
        bursts = 0
        try:
            while time.monotonic() < deadline:
                events = await fanout.insert_celebrity_tweets(ctx, ctx.profile.fanout_tweets)
                await fanout.queue_events(ctx, events)
                await watcher.wait_all([str(event.tweet_id) for event in events], timeout=180)
                bursts += 1
        finally:
            await redis.aclose()
        return {"bursts": bursts}

    scenarios = (
        ("feed_reads", ["feed", "tweets"], feed_load),
        ("fanout", ["feed_worker", "users"], fanout_load),
        ("compose", ["tweets", "users", "search_worker"], compose_load),
    )
    for scenario, processes, load in scenarios:
        ctx.log(f"profiling {scenario} ({', '.join(processes)})")
        results[scenario] = await profile_during(ctx, scenario, processes, load, command, folder)
        await ctx.fleet.drain()
    return results


def markdown(profile: dict[str, Any] | None) -> str:
    """The automatic part of the summary's "Profile findings": per process, where the time went."""
    if not profile:
        return ""
    if "error" in profile:
        return f"Automatic profile: skipped ({profile['error']})."
    lines = [
        f"Automatic profile of this run ({profile.get('tool')} at 200 Hz, non-blocking, samples holding "
        "the GIL; folded stacks in `results/profiles/`):",
        "",
    ]
    for scenario, processes in profile.items():
        if not isinstance(processes, dict):
            continue
        for process, summary in processes.items():
            if not isinstance(summary, dict) or "samples" not in summary:
                if isinstance(summary, dict) and "error" in summary:
                    lines.append(f"- {scenario} / {process}: not sampled ({summary['error'].strip()[:200]})")
                continue
            packages = ", ".join(f"{p['name']} {p['share']:.0%}" for p in summary["packages"][:9])
            hot = "; ".join(f"`{p['name']}` {p['share']:.0%}" for p in summary["self"][:5])
            own = "; ".join(f"`{p['name']}` {p['share']:.0%}" for p in summary["fleet_functions"][:8])
            lines += [
                f"- **{scenario} / {process}** ({summary['samples']} samples holding the GIL)",
                f"  - time by package (standard library charged to its caller): {packages}",
                f"  - hottest functions (self): {hot}",
                f"  - fleet code (inclusive): {own}",
            ]
    return "\n".join(lines)
