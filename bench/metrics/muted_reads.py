"""Feed reads of users who mute 50 accounts, beside the same users' reads before they muted anyone.

A mute is applied when the feed is read (the muted accounts' tweets and reposts are left out), so a
muting reader's page costs its hidden set and whatever reading past the left-out entries takes.
The readers are the data set's least-followed users; they mute the 50 most-followed accounts (the
celebrity and the top of the popularity law), which most of them follow: a large share of their
feed is filtered out. Mutes go through users REST, as a client makes them (events, cache
invalidation and all), and are removed again afterwards, so later measurements see the clean data
set. Both sides use feed_reads' sweep (wrk when available) and its p99 limit.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from bench.context import Context
from bench.metrics.feed_reads import P99_LIMIT_MS, Readers, fleet_sweep
from bench.model import Figure, Metric
from bench.sweep import best_holding

TITLE = "Feed reads of users who mute 50 accounts vs the same users' plain reads"

MUTED_ACCOUNTS = 50
READERS = 32
MUTE_CONCURRENCY = 8


def _readers(ctx: Context) -> tuple[Readers, list[tuple[str, str]], list[str]]:
    """The readers (tokens and ids, the last users of the data set) and the accounts they mute."""
    users, tokens = ctx.data.user_ids, ctx.data.tokens
    chosen = range(len(users) - READERS, len(users))
    readers = Readers("muting", [tokens[index] for index in chosen])
    return readers, [(users[index], tokens[index]) for index in chosen], list(users[:MUTED_ACCOUNTS])


async def _set_mutes(ctx: Context, readers: list[tuple[str, str]], muted: list[str], *, on: bool) -> None:
    """Every reader mutes (or unmutes) every account of `muted`, MUTE_CONCURRENCY requests at a time."""
    calls = iter([(token, target) for _, token in readers for target in muted])
    expected = 201 if on else 204
    limits = httpx.Limits(max_connections=MUTE_CONCURRENCY)
    async with httpx.AsyncClient(base_url=ctx.fleet.url("user"), limits=limits, timeout=30) as client:

        async def worker() -> None:
            for token, target in calls:
                method = "POST" if on else "DELETE"
                response = await client.request(
                    method, f"/users/{target}/mute", headers={"Authorization": f"Bearer {token}"}
                )
                if response.status_code != expected:
                    raise RuntimeError(f"{method} mute: {response.status_code} {response.text}")

        await asyncio.gather(*(worker() for _ in range(MUTE_CONCURRENCY)))


def _best_rps(sweep: dict[str, Any]) -> float:
    best = best_holding(sweep["steps"], P99_LIMIT_MS)
    return float(best["rps"]) if best else 0.0


async def run(ctx: Context) -> Metric:
    metric = Metric("muted_reads", TITLE)
    throughput = Figure(
        f"throughput at p99 ≤ {P99_LIMIT_MS:.0f} ms, readers muting {MUTED_ACCOUNTS} accounts",
        "req/s",
        "higher",
        baseline_name="the same readers' GET /feed before they muted anyone (same run)",
    )
    metric.figures = [throughput]
    readers, accounts, muted = _readers(ctx)
    runs = []
    for repetition in ctx.repetitions:
        ctx.log(f"muted reads: repetition {repetition + 1} ({READERS} readers, {MUTED_ACCOUNTS} mutes each)")
        # Alternate which side goes first, so a drift in machine load does not favour one side;
        # the mutes are always removed at the end.
        if repetition % 2 == 0:
            plain = await fleet_sweep(ctx, readers)
            await _set_mutes(ctx, accounts, muted, on=True)
            muting = await fleet_sweep(ctx, readers)
            await _set_mutes(ctx, accounts, muted, on=False)
        else:
            await _set_mutes(ctx, accounts, muted, on=True)
            muting = await fleet_sweep(ctx, readers)
            await _set_mutes(ctx, accounts, muted, on=False)
            plain = await fleet_sweep(ctx, readers)
        throughput.add(_best_rps(muting), _best_rps(plain))
        runs.append({"muting": muting["steps"], "plain": plain["steps"]})
        ctx.log(f"  muting {throughput.fleet[-1]:.0f} req/s, plain {throughput.baseline[-1]:.0f} req/s")
    metric.details = {
        "readers": READERS,
        "muted_accounts": MUTED_ACCOUNTS,
        "p99_limit_ms": P99_LIMIT_MS,
        "runs": runs,
    }
    return metric
