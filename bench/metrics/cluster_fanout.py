"""Fan-out on a Redis Cluster beside the single server: deliveries per second of the feed store's
fan-out (tweets, then reposts) into the same feeds, with the same batch size as the feed worker,
on a local 3-master Redis Cluster (devtools.redis_cluster: three redis-server processes on loopback,
started for this measurement and stopped after it) and on the fleet's Redis server, same run.

What runs is `FeedStore.fan_out` / `fan_out_repost`, the worker's Redis side: on the cluster, one
script call per hash slot with the feeds as KEYS, sent per node (feed.slots.NodePipelines), and the
tombstones checked around each batch; on one server, one script call per batch. The follower graph
(GetFollowers) is left out: it is the same on both. The feeds are `cluster_fanout_feeds` scratch
ids (none of the data set's feeds is touched), deleted on both afterwards. On this one machine the
three nodes share its cores, so the figure shows what the per-slot path costs, not what the nodes'
parallelism would gain on separate hosts.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis, RedisCluster

from bench.context import Context
from bench.feedcheck import SOCKET_TIMEOUT_SECONDS, harness_redis
from bench.model import Figure, Metric
from devtools.fanout_speed import deliveries_per_second
from devtools.redis_cluster import missing_tools, redis_cluster
from feed.entries import feed_key, repost_entry
from feed.feedstore import FeedStore
from shared.ids import uuid7

TITLE = "Fan-out on a local 3-master Redis Cluster vs the single server (FeedStore, same feeds)"


@asynccontextmanager
async def local_cluster() -> AsyncIterator[Redis]:
    """A client of a fresh 3-master cluster on loopback, stopped (and its data gone) on exit."""
    if reason := missing_tools():
        raise RuntimeError(f"no local Redis Cluster: {reason}")
    with redis_cluster() as url:
        client = RedisCluster.from_url(url, decode_responses=True, socket_timeout=SOCKET_TIMEOUT_SECONDS)
        try:
            await client.ping()  # discovers the nodes
            yield client  # type: ignore[misc]
        finally:
            await client.aclose()


async def rates(store: FeedStore, feeds: list[str], tweets: int) -> tuple[float, float]:
    """(tweet, repost) deliveries per second into `feeds`."""
    reposter = str(uuid7())

    async def repost(tweet: str, users: list[str]) -> int:
        return await store.fan_out_repost(repost_entry(uuid7(), tweet, reposter), users)

    return (
        await deliveries_per_second(feeds, tweets, store.fan_out),
        await deliveries_per_second(feeds, tweets, repost),
    )


async def _delete(redis: Redis, feeds: list[str]) -> None:
    """Unlink the scratch feeds of the single server (the cluster goes away whole)."""
    for start in range(0, len(feeds), 1000):
        await redis.unlink(*(feed_key(user) for user in feeds[start : start + 1000]))


async def run(ctx: Context) -> Metric:
    metric = Metric("cluster_fanout", TITLE)
    tweets_figure = Figure(
        "tweet deliveries per second on the cluster",
        "deliveries/s",
        "higher",
        baseline_name="the single server",
    )
    reposts_figure = Figure(
        "repost deliveries per second on the cluster",
        "deliveries/s",
        "higher",
        baseline_name="the single server",
    )
    metric.figures = [tweets_figure, reposts_figure]
    feeds = [str(uuid.uuid4()) for _ in range(ctx.profile.cluster_fanout_feeds)]
    tweets = ctx.profile.cluster_fanout_tweets
    batch = ctx.fleet.settings.feedworker.redis_batch_size
    single = harness_redis(ctx.fleet.redis_url)
    runs = []
    try:
        async with local_cluster() as cluster:
            on_cluster = FeedStore(cluster, batch_size=batch)
            on_single = FeedStore(single, batch_size=batch)
            try:
                for repetition in ctx.repetitions:
                    ctx.log(f"cluster fan-out: repetition {repetition + 1}")
                    if repetition % 2 == 0:
                        ours, theirs = (
                            await rates(on_cluster, feeds, tweets),
                            await rates(on_single, feeds, tweets),
                        )
                    else:
                        theirs, ours = (
                            await rates(on_single, feeds, tweets),
                            await rates(on_cluster, feeds, tweets),
                        )
                    tweets_figure.add(ours[0], theirs[0])
                    reposts_figure.add(ours[1], theirs[1])
                    runs.append({"cluster": ours, "single": theirs})
                    ctx.log(
                        f"  cluster {ours[0]:,.0f}/s (reposts {ours[1]:,.0f}/s), "
                        f"single server {theirs[0]:,.0f}/s ({theirs[1]:,.0f}/s)"
                    )
            finally:
                await on_cluster.close()
    finally:
        await _delete(single, feeds)
        await single.aclose()
    metric.details = {"feeds": len(feeds), "tweets_per_run": tweets, "batch_size": batch, "runs": runs}
    return metric
