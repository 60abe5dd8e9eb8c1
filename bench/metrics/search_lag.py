"""5. Search indexing lag: from the 201 of POST /tweet until GET /search finds it; p50 and p99,
per backend available: PostgreSQL (always), Elasticsearch when ELASTICSEARCH_URL answers (it then
gets a fleet of its own, since a fleet runs one backend).

Each post carries a word no other tweet contains; /search is polled for it every 5 ms.
Baseline: a bare script — confirmed publish, consume, write into the same index, and the same
query polled as often — i.e. what the backend itself allows.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any

import aiohttp
import httpx

from bench import cpu
from bench.context import Context
from bench.environment import BenchFleet
from bench.loadgen import run_agent
from bench.metrics.tweet_to_feed import post_tweet
from bench.model import Figure, Metric, Target
from bench.stats import latency_summary
from bench.words import probe_word

TITLE = "Search indexing lag: POST /tweet 201 → found by GET /search"

POLL_SECONDS = 0.005
GAP_SECONDS = 0.05
TIMEOUT_SECONDS = 30.0


async def searchable(session: aiohttp.ClientSession, url: str, word: str) -> bool:
    async with session.get(f"{url}/search", params={"q": word, "limit": "1"}) as response:
        if response.status != 200:
            raise RuntimeError(f"GET /search answered {response.status}: {await response.text()}")
        return bool((await response.json())["results"])


async def fleet_run(fleet: BenchFleet, tokens: list[str], posts: int) -> dict[str, Any]:
    pick = random.Random()
    search_url = fleet.url("search")
    latencies = []
    before = cpu.snapshot(fleet.pids)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for index in range(posts + 1):  # the first post warms the path up and is not recorded
            word = probe_word(pick)
            await post_tweet(session, fleet.url("tweet"), pick.choice(tokens), f"search lag probe {word}")
            created = time.perf_counter()
            while not await searchable(session, search_url, word):
                if time.perf_counter() - created > TIMEOUT_SECONDS:
                    raise TimeoutError(f"probe {word} was not searchable after {TIMEOUT_SECONDS}s")
                await asyncio.sleep(POLL_SECONDS)
            if index:
                latencies.append(time.perf_counter() - created)
            await asyncio.sleep(GAP_SECONDS)
    usage = cpu.usage(before, cpu.snapshot(fleet.pids))
    return {"samples": len(latencies), "latency_ms": latency_summary(latencies), "cpu": usage.as_dict()}


async def baseline_run(fleet: BenchFleet, author: str, posts: int, backend: str) -> dict[str, Any]:
    pick = random.Random()
    return await run_agent(
        {
            "task": "search_lag" if backend == "postgresql" else "search_lag_elasticsearch",
            "amqp_url": fleet.amqp_url,
            "search_dsn": fleet.dsn("search"),
            "elasticsearch_url": fleet.settings.elasticsearch.url,
            "index": fleet.settings.elasticsearch.index,
            "author": author,
            "words": [probe_word(pick) for _ in range(posts)],
            "poll_seconds": POLL_SECONDS,
            "gap_seconds": GAP_SECONDS,
            "pids": fleet.pids,
        }
    )


async def measure_backend(
    ctx: Context, fleet: BenchFleet, tokens: list[str], author: str, backend: str
) -> tuple[list[Figure], list[dict[str, Any]]]:
    name = f"bare script: publish → consume → write to {backend} → first query that finds it"
    p50 = Figure(f"{backend}: p50", "ms", "lower", baseline_name=name)
    p99 = Figure(f"{backend}: p99", "ms", "lower", target=Target("absolute", "<=", 1000), baseline_name=name)
    runs = []
    for repetition in ctx.repetitions:
        ctx.log(f"search lag ({backend}): repetition {repetition + 1}")
        posts = ctx.profile.latency_posts
        if repetition % 2 == 0:
            ours = await fleet_run(fleet, tokens, posts)
            theirs = await baseline_run(fleet, author, posts, backend)
        else:
            theirs = await baseline_run(fleet, author, posts, backend)
            ours = await fleet_run(fleet, tokens, posts)
        p50.add(ours["latency_ms"]["p50"], theirs["latency_ms"]["p50"])
        p99.add(ours["latency_ms"]["p99"], theirs["latency_ms"]["p99"])
        runs.append({"backend": backend, "fleet": ours, "baseline": theirs})
        ctx.log(
            f"  fleet p50 {p50.fleet[-1]} / p99 {p99.fleet[-1]} ms; "
            f"bare p50 {p50.baseline[-1]} / p99 {p99.baseline[-1]} ms"
        )
    return [p50, p99], runs


def elasticsearch_url() -> str:
    return os.environ.get("ELASTICSEARCH_URL") or os.environ.get("ELASTICSEARCH__URL") or ""


def elasticsearch_answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def run(ctx: Context) -> Metric:
    metric = Metric("search_lag", TITLE)
    figures, runs = await measure_backend(ctx, ctx.fleet, ctx.data.tokens, ctx.data.celebrity, "postgresql")
    metric.figures = figures
    metric.details = {"poll_ms": POLL_SECONDS * 1000, "runs": runs}
    url = elasticsearch_url()
    if url and elasticsearch_answers(url):
        es_figures, es_runs = await _elasticsearch(ctx, url)
        metric.figures.extend(es_figures)
        metric.details["runs"].extend(es_runs)
    else:
        metric.notes.append(
            "Elasticsearch: not measured (ELASTICSEARCH_URL is unset or does not answer); "
            "the fleet ran its PostgreSQL full-text backend."
        )
    return metric


async def _elasticsearch(ctx: Context, url: str) -> tuple[list[Figure], list[dict[str, Any]]]:
    """A second, small fleet whose search processes use Elasticsearch (the main one is idle meanwhile)."""
    from bench.config import QUICK
    from bench.dataset import generate

    ctx.log(f"search lag: starting a fleet on Elasticsearch at {url}")
    fleet = BenchFleet(elasticsearch_url=url)
    try:
        await fleet.start()
        tiny = QUICK.__class__(**{**QUICK.__dict__, "users": 50, "celebrity_followers": 10, "tweets": 200})
        data = await generate(tiny, fleet.settings, fleet.redis_url)
        return await measure_backend(ctx, fleet, data.tokens, data.celebrity, "elasticsearch")
    finally:
        await fleet.stop()
