"""11. Discovery: user search and trends reads, and the search worker's cost per indexed tweet with
entities — each beside a bare baseline on the same data.

Data (written in bulk, like bench.dataset): `search_profiles` accounts with realistic names
(devtools.people) in the search service's user_profiles, and `tagged_tweets` tweets of the data set's
users in its trend rows (tweet_tags), 1-3 hashtags each from a Zipf-like vocabulary, spread over the
last 24 hours. Both are removed afterwards.

- User search: closed loop of GET /search/users?q=…&limit=20 with prefix queries (2-5 letters of a
  real username or surname) and, separately, typo queries (5-8 letters of a username with one letter
  replaced). Baseline: the very statement the PostgreSQL backend runs, on an asyncpg pool.
- Trends: closed loop of GET /trends?window=24h&limit=10. Baseline: the backend's trends query.
- Indexing cost: `indexed_tweets` tweet.create events with hashtags and mentions go straight into the
  search worker's queue while it is paused; it is resumed and its CPU is read until all are indexed.
  Baseline: a bare consumer (bench.bare_indexing) doing the same writes with asyncpg.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
import orjson

from bench import cpu
from bench.context import Context
from bench.dataset import copy_rows
from bench.loadgen import run_agent
from bench.model import Figure, Metric
from bench.words import VOCABULARY, sentence
from devtools.people import Person, load_profiles, people
from shared.messaging.topology import SEARCH_QUEUE

TITLE = "Discovery: GET /search/users and GET /trends reads; search worker CPU per tweet with entities"

CONCURRENCY = 4
WARMUP_SECONDS = 0.5
QUERIES = 200
TAGS = VOCABULARY[:300]


def prefix_queries(crowd: list[Person], generator: random.Random) -> list[str]:
    picks = generator.sample(crowd, QUERIES)
    return [
        (p.username if index % 2 else p.display_name.split()[-1])[: generator.randint(2, 5)].lower()
        for index, p in enumerate(picks)
    ]


def typo_queries(crowd: list[Person], generator: random.Random) -> list[str]:
    long_names = [p.username for p in crowd if len(p.username) >= 6]
    queries = []
    for name in generator.sample(long_names, QUERIES):
        prefix = name[: generator.randint(5, min(8, len(name)))]
        at = generator.randrange(1, len(prefix))
        letter = generator.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c != prefix[at]])
        queries.append(prefix[:at] + letter + prefix[at + 1 :])
    return queries


async def _seed(ctx: Context, crowd: list[Person], generator: random.Random) -> None:
    dsn = ctx.fleet.dsn("search")
    await load_profiles(dsn, crowd)
    now = datetime.now(UTC)
    weights = [1.0 / (rank + 1) for rank in range(len(TAGS))]
    tags = []
    for _ in range(ctx.profile.tagged_tweets):
        tweet_id, author = uuid.uuid4(), uuid.UUID(generator.choice(ctx.data.user_ids))
        at = now - timedelta(seconds=generator.uniform(0, 24 * 3600))
        for tag in set(generator.choices(TAGS, weights=weights, k=generator.randint(1, 3))):
            tags.append((tweet_id, tag, author, at))
    await copy_rows(dsn, "tweet_tags", ("tweet_id", "hashtag", "user_id", "created_at"), tags)


async def _clean(ctx: Context) -> None:
    # The bench data set writes no profiles or trend rows: all of them are this measurement's.
    connection = await asyncpg.connect(ctx.fleet.dsn("search"))
    try:
        await connection.execute("TRUNCATE user_profiles, tweet_tags")
    finally:
        await connection.close()


async def _reads(ctx: Context, side: str, kind: str, queries: list[str]) -> dict[str, Any]:
    return await run_agent(
        {
            "task": "discovery_reads",
            "ops": side,
            "kind": kind,
            "queries": queries,
            "search_url": ctx.fleet.url("search"),
            "search_dsn": ctx.fleet.dsn("search"),
            "concurrency": CONCURRENCY,
            "duration": ctx.profile.step_seconds,
            "warmup": WARMUP_SECONDS,
            "pids": ctx.fleet.pids,
        }
    )


async def _read_figures(ctx: Context, label: str, kind: str, queries: list[str]) -> list[Figure]:
    baseline = f"the backend's own SQL for {label} on an asyncpg pool ({CONCURRENCY} connections, no HTTP)"
    throughput = Figure(
        f"{label}: throughput ({CONCURRENCY} connections)", "req/s", "higher", baseline_name=baseline
    )
    p50 = Figure(f"{label}: p50", "ms", "lower", baseline_name=baseline)
    p99 = Figure(f"{label}: p99", "ms", "lower", baseline_name=baseline)
    for repetition in ctx.repetitions:
        order = ("http", "bare") if repetition % 2 == 0 else ("bare", "http")
        results = {side: await _reads(ctx, side, kind, queries) for side in order}
        ours, theirs = results["http"], results["bare"]
        if ours["errors"] or theirs["errors"]:
            raise RuntimeError(f"{label}: {ours['errors']} fleet and {theirs['errors']} bare errors")
        throughput.add(ours["rps"], theirs["rps"])
        p50.add(ours["latency_ms"]["p50"], theirs["latency_ms"]["p50"])
        p99.add(ours["latency_ms"]["p99"], theirs["latency_ms"]["p99"])
        ctx.log(
            f"  {label}: fleet {ours['rps']} req/s p50 {p50.fleet[-1]} ms; "
            f"bare {theirs['rps']} req/s p50 {p50.baseline[-1]} ms"
        )
    return [throughput, p50, p99]


def tagged_events(ctx: Context, count: int, generator: random.Random) -> list[dict[str, Any]]:
    """tweet.create events as tweets publishes them, each with 1-3 hashtags and 0-2 mentions."""
    now = datetime.now(UTC).isoformat()
    users = list(zip(ctx.data.user_ids, ctx.data.usernames, strict=True))
    events = []
    for _ in range(count):
        tags = list(dict.fromkeys(generator.choices(TAGS, k=generator.randint(1, 3))))
        named = generator.sample(users, generator.randint(0, 2))
        marks = " ".join([f"#{tag}" for tag in tags] + [f"@{name}" for _, name in named])
        events.append(
            {
                "event_id": str(uuid.uuid4()),
                "event_type": "tweet.create",
                "tweet_id": str(uuid.uuid4()),
                "user_id": generator.choice(ctx.data.user_ids),
                "content": f"{sentence(generator, 5, 20)} {marks}",
                "created_at": now,
                "updated_at": now,
                "entities": {
                    "hashtags": tags,
                    "mentions": [{"id": user_id, "username": name} for user_id, name in named],
                },
            }
        )
    return events


async def _indexed(dsn: str, ids: list[uuid.UUID]) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval("SELECT count(*) FROM documents WHERE id = ANY($1::uuid[])", ids)
        )
    finally:
        await connection.close()


async def worker_cost(ctx: Context, events: list[dict[str, Any]]) -> float:
    """The search worker's CPU seconds for indexing `events` (queued while it was paused)."""
    fleet = ctx.fleet
    ids = [uuid.UUID(event["tweet_id"]) for event in events]
    connection = await aio_pika.connect_robust(fleet.amqp_url)
    try:
        async with fleet.paused("search_worker"):
            channel = await connection.channel(publisher_confirms=True)
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(aio_pika.Message(orjson.dumps(event)), SEARCH_QUEUE)
                    for event in events
                )
            )
            pid = fleet.pids["search_worker"]
            before = cpu.process_cpu_seconds(pid)
        deadline = time.monotonic() + 300
        while await _indexed(fleet.dsn("search"), ids) < len(ids):
            if time.monotonic() > deadline:
                raise TimeoutError("the search worker did not index the events within 300 s")
            await asyncio.sleep(0.05)
        after = cpu.process_cpu_seconds(pid)
    finally:
        await connection.close()
    if before is None or after is None:
        raise RuntimeError("the search worker exited while indexing")
    return after - before


async def _cost_figure(ctx: Context, generator: random.Random) -> Figure:
    figure = Figure(
        "search worker: CPU per indexed tweet with entities",
        "ms",
        "lower",
        baseline_name="bare consumer: parse + the same upserts of documents and trend rows (asyncpg)",
    )
    count = ctx.profile.indexed_tweets
    for repetition in ctx.repetitions:
        ours_events, bare_events = tagged_events(ctx, count, generator), tagged_events(ctx, count, generator)
        bare_task = {
            "task": "index_with_entities",
            "events": bare_events,
            "amqp_url": ctx.fleet.amqp_url,
            "search_dsn": ctx.fleet.dsn("search"),
        }
        if repetition % 2 == 0:
            ours = await worker_cost(ctx, ours_events)
            theirs = (await run_agent(bare_task))["cpu_seconds"]
        else:
            theirs = (await run_agent(bare_task))["cpu_seconds"]
            ours = await worker_cost(ctx, ours_events)
        figure.add(round(ours * 1000 / count, 4), round(theirs * 1000 / count, 4))
        ctx.log(f"  indexing: worker {figure.fleet[-1]} ms/tweet, bare {figure.baseline[-1]} ms/tweet")
    return figure


async def run(ctx: Context) -> Metric:
    metric = Metric("discovery", TITLE)
    generator = random.Random(20261205)
    crowd = people(ctx.profile.search_profiles)
    ctx.log(f"discovery: loading {len(crowd):,} profiles and {ctx.profile.tagged_tweets:,} tagged tweets")
    try:
        await _seed(ctx, crowd, generator)
        metric.figures += await _read_figures(
            ctx, "user search, prefix", "users", prefix_queries(crowd, generator)
        )
        metric.figures += await _read_figures(
            ctx, "user search, typo", "users", typo_queries(crowd, generator)
        )
        metric.figures += await _read_figures(ctx, "trends 24h", "trends", [])
        metric.figures.append(await _cost_figure(ctx, generator))
    finally:
        await _clean(ctx)
    metric.details = {
        "profiles": len(crowd),
        "tagged_tweets": ctx.profile.tagged_tweets,
        "indexed_tweets": ctx.profile.indexed_tweets,
        "concurrency": CONCURRENCY,
    }
    return metric
