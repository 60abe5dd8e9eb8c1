"""Overload: the mixed workload (6.) offered at twice (and four times) the rate the fleet sustains,
beside the same workload at the sustainable rate, measured in the same run.

Past saturation a fleet should shed what it cannot serve, quickly and honestly — 503 problem+json
"overloaded" with Retry-After — and keep serving the rest: goodput (2xx per second) should
plateau, not collapse, and nothing should be reported as an outage (a "redis is unavailable" 503
for a full local pool), time out or be refused. The sustainable rate is the one the mixed
measurement found (p99 ≤ 100 ms); run alone, a short open-loop sweep finds it first.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bench.context import Context
from bench.loadgen import run_agent
from bench.metrics import mixed
from bench.model import Figure, Metric, Target
from bench.sweep import holds

TITLE = "Overload: goodput of the mixed workload at 2x and 4x its sustainable rate"

# 2x as the issue asks; 4x because on a shared machine the p99 target is often missed well before
# throughput saturates (requests queue), and shedding only shows further out.
OVERLOAD_FACTORS = (2.0, 4.0)
WARMUP_SECONDS = 1.0


async def _sustainable_rate(ctx: Context, metric: Metric) -> float:
    noted = ctx.notes.get("mixed_rps")
    if noted and noted[0]:
        return float(noted[0])
    ctx.log("overload: no mixed result in this run; searching the sustainable rate first")
    fleet_feed, _ = ctx.notes.get("feed_rps", (None, None))
    start = mixed.START_SHARE * fleet_feed if fleet_feed else mixed.DEFAULT_START_RATE
    # A few steps more than the mixed measurement takes: starting blind, it needs them to settle.
    search = replace(ctx, profile=replace(ctx.profile, mixed_max_steps=ctx.profile.mixed_max_steps + 3))
    sweep = await mixed._sweep(search, {"ops": "http", "plan": ctx.http_plan(mixed.MIX)}, start)
    await ctx.fleet.drain()
    metric.details["search_steps"] = sweep["steps"]
    best = mixed._sustained(sweep["steps"])
    return float(best["offered_rps"]) if best else mixed.DEFAULT_START_RATE


async def _step(ctx: Context, rate: float, seconds: float) -> dict[str, Any]:
    result = await run_agent(
        {
            "plan": ctx.http_plan(mixed.MIX),
            "rates": [rate],
            "duration": seconds,
            "warmup": WARMUP_SECONDS,
        },
        module="bench.overload_agent",
    )
    await ctx.fleet.drain()  # the posts' fan-out and indexing, before the next step
    step: dict[str, Any] = result["steps"][0]
    return step


def _failed_other_percent(step: dict[str, Any]) -> float | None:
    requests = sum(step["outcomes"].values())
    return 100.0 * step["other_errors"] / requests if requests else None


def _overloaded_percent(step: dict[str, Any]) -> float:
    requests = sum(step["outcomes"].values())
    return 100.0 * step["overloaded"] / requests if requests else 0.0


async def run(ctx: Context) -> Metric:
    metric = Metric("overload", TITLE)
    baseline = "the same fleet and mix at its sustainable rate (p99 ≤ 100 ms), same run"
    goodput, shed, other = {}, {}, {}
    for factor in OVERLOAD_FACTORS:
        goodput[factor] = Figure(
            f"goodput (2xx/s) offered {factor:g}x the sustainable rate",
            "req/s",
            "higher",
            target=Target("ratio", ">=", 0.9),
            baseline_name=baseline,
        )
        shed[factor] = Figure(
            f"requests shed as 503 overloaded + Retry-After at {factor:g}x",
            "%",
            "lower",
            baseline_name=baseline,
        )
        other[factor] = Figure(
            f"requests failed otherwise at {factor:g}x (other statuses, timeouts, refused)",
            "%",
            "lower",
            target=Target("absolute", "<=", 1.0),
            baseline_name=baseline,
        )
    first = OVERLOAD_FACTORS[0]
    ok_p99 = Figure(f"p99 of the 2xx answers at {first:g}x", "ms", "lower", baseline_name=baseline)
    metric.figures = [*goodput.values(), ok_p99, *shed.values(), *other.values()]
    sustainable = await _sustainable_rate(ctx, metric)
    seconds = max(5.0, 2 * ctx.profile.mixed_step_seconds)
    runs = []
    for repetition in ctx.repetitions:
        ctx.log(f"overload: repetition {repetition + 1}, sustainable rate {sustainable:.0f} req/s")
        order = (1.0, *OVERLOAD_FACTORS)
        steps = {}
        for factor in order if repetition % 2 == 0 else reversed(order):
            steps[factor] = await _step(ctx, factor * sustainable, seconds)
        at_rate = steps[1.0]
        for factor in OVERLOAD_FACTORS:
            over = steps[factor]
            goodput[factor].add(over["goodput_rps"], at_rate["goodput_rps"])
            shed[factor].add(_overloaded_percent(over), _overloaded_percent(at_rate))
            other[factor].add(_failed_other_percent(over), _failed_other_percent(at_rate))
            ctx.log(
                f"  offered {factor * sustainable:.0f} req/s ({factor:g}x): goodput {over['goodput_rps']:.0f}/s, "
                f"p99 {over['latency_ms'].get('p99')} ms, {over['overloaded']} x 503 overloaded, "
                f"{over['other_errors']} other errors {over['outcomes']}"
            )
        ok_p99.add(steps[first]["latency_ms"].get("p99"), at_rate["latency_ms"].get("p99"))
        ctx.log(f"  at {sustainable:.0f} req/s: goodput {at_rate['goodput_rps']:.0f}/s")
        runs.append({f"{factor:g}x": step for factor, step in steps.items()})
        if holds(steps[first], mixed.P99_LIMIT_MS):
            metric.notes.append(
                f"repetition {repetition + 1}: {first:g}x ({first * sustainable:.0f} req/s) still held "
                f"p99 ≤ {mixed.P99_LIMIT_MS:g} ms: not past saturation"
            )
    metric.details |= {
        "sustainable_rps": sustainable,
        "factors": OVERLOAD_FACTORS,
        "step_seconds": seconds,
        "mix": mixed.MIX,
        "generator": "python (open loop)",
        "runs": runs,
    }
    return metric
