"""Open connections: N idle Server-Sent Events streams (GET /stream, real tokens of N users) held
by one notifications process; its resident memory, its CPU while they idle, and whether every
stream's heartbeats still come on time.

The process is the bench's own (bench.streams): workers = 1, uvicorn's connection limit
([Http] max_concurrency) raised above N, the heartbeat shortened so that a hold of a few dozen
seconds sees several. One asyncio client process (bench.stream_agent) opens the streams over raw
sockets, 64 at a time, and reads them all. Baseline: the bare Redis pub/sub -> SSE server
(bench.bare_sse) holding the same streams, same client, same run. Each repetition starts both
servers afresh, so the memory figures are of N streams, not of the repetitions before.
"""

from __future__ import annotations

from itertools import cycle, islice
from typing import Any

from bench.context import Context
from bench.loadgen import run_agent
from bench.model import Figure, Metric, Target
from bench.streams import bare_server, notifications_process

TITLE = "Open connections: idle SSE streams held by one notifications process"

STREAMS = {"full": 10_000, "quick": 1_000}
HEARTBEAT_SECONDS = {"full": 5.0, "quick": 2.0}
HOLD_HEARTBEATS = 6


async def _hold(ctx: Context, url: str, pid: int, tokens: list[str], heartbeat: float) -> dict[str, Any]:
    return await run_agent(
        {
            "task": "hold",
            "url": f"{url}/stream",
            "tokens": tokens,
            "server_pid": pid,
            "hold_seconds": HOLD_HEARTBEATS * heartbeat,
        },
        module="bench.stream_agent",
    )


async def _fleet(ctx: Context, tokens: list[str], heartbeat: float) -> dict[str, Any]:
    async with notifications_process(ctx, len(tokens), heartbeat) as (url, pid):
        return await _hold(ctx, url, pid, tokens, heartbeat)


async def _bare(ctx: Context, tokens: list[str], heartbeat: float) -> dict[str, Any]:
    async with bare_server(ctx, heartbeat) as (url, pid):
        return await _hold(ctx, url, pid, tokens, heartbeat)


def _lateness_ms(run: dict[str, Any], heartbeat: float) -> float | None:
    longest = run["heartbeat_gap"]["max_s"]
    return None if longest is None else max(0.0, 1000 * (longest - heartbeat))


async def run(ctx: Context) -> Metric:
    count = STREAMS.get(ctx.profile.name, STREAMS["quick"])
    heartbeat = HEARTBEAT_SECONDS.get(ctx.profile.name, HEARTBEAT_SECONDS["quick"])
    metric = Metric("open_streams", TITLE)
    baseline = "bare Redis pub/sub -> SSE server (asyncio streams, uvloop) holding the same streams"
    rss = Figure(
        f"resident memory holding {count:,} streams",
        "MiB",
        "lower",
        target=Target("absolute", "<=", 1024),
        baseline_name=baseline,
    )
    per_stream = Figure("resident memory per stream", "KiB", "lower", baseline_name=baseline)
    late = Figure(
        f"heartbeat lateness (longest gap seen by any stream minus the {heartbeat:g} s interval)",
        "ms",
        "lower",
        target=Target("absolute", "<=", 1000),
        baseline_name=baseline,
    )
    idle_cpu = Figure("server CPU while the streams idle", "% of a core", "lower", baseline_name=baseline)
    metric.figures = [rss, per_stream, late, idle_cpu]
    # Everyone but the celebrity, each with one stream (cycled only if there are fewer users).
    tokens = list(islice(cycle(ctx.data.tokens[1:]), count))
    runs = []
    for repetition in ctx.repetitions:
        ctx.log(f"open streams: repetition {repetition + 1}, {count:,} streams, heartbeat {heartbeat:g} s")
        if repetition % 2 == 0:
            ours, theirs = await _fleet(ctx, tokens, heartbeat), await _bare(ctx, tokens, heartbeat)
        else:
            theirs, ours = await _bare(ctx, tokens, heartbeat), await _fleet(ctx, tokens, heartbeat)
        rss.add(ours["rss_mib"], theirs["rss_mib"])
        per_stream.add(ours["kib_per_stream"], theirs["kib_per_stream"])
        late.add(_lateness_ms(ours, heartbeat), _lateness_ms(theirs, heartbeat))
        idle_cpu.add(
            None if ours["server_cores"] is None else 100 * ours["server_cores"],
            None if theirs["server_cores"] is None else 100 * theirs["server_cores"],
        )
        runs.append({"fleet": ours, "baseline": theirs})
        for side, result in (("fleet", ours), ("bare", theirs)):
            ctx.log(
                f"  {side}: {result['opened']:,}/{count:,} open in {result['open_seconds']} s "
                f"(failures {result['failures']}), {result['lost_while_held']} lost; RSS {result['rss_mib']} MiB "
                f"({result['kib_per_stream']} KiB/stream), heartbeat gap {result['heartbeat_gap']}, "
                f"CPU {result['server_cores']} cores"
            )
            if result["opened"] < count:
                metric.notes.append(f"{side}: only {result['opened']:,} of {count:,} streams opened")
    metric.details = {
        "streams": count,
        "heartbeat_seconds": heartbeat,
        "hold_seconds": HOLD_HEARTBEATS * heartbeat,
        "runs": runs,
    }
    return metric
