"""Fan-out deliveries per second on one Redis server and on a local 3-master Redis Cluster, the
cluster both through redis-py's cluster pipeline (ClusterScript) and through plain per-node
pipelines (NodePipelines, what FeedStore uses). Dev-only measurement:

    uv run python -m devtools.fanout_speed [--followers 20000] [--tweets 5] [--batch 1000] [--db 12]

The two cluster paths get the same batches (`--batch` feeds grouped by hash slot per round).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from itertools import islice

from redis.asyncio import Redis, RedisCluster

from devtools.redis_cluster import redis_cluster
from feed.entries import feed_key
from feed.feedstore import _INSERT, FeedStore
from feed.slots import ClusterScript, NodePipelines, by_slot
from shared.ids import uuid7


async def deliveries_per_second(
    followers: list[str], tweets: int, fan_out: Callable[[str, list[str]], Awaitable[object]]
) -> float:
    """`fan_out(tweet id, followers)` of `tweets` new ids, after one unmeasured call; feeds written per second."""
    await fan_out(str(uuid7()), followers)  # warm: scripts loaded, connections open
    started = time.perf_counter()
    for _ in range(tweets):
        await fan_out(str(uuid7()), followers)
    return tweets * len(followers) / (time.perf_counter() - started)


def _grouped(
    runner: ClusterScript | NodePipelines, size: int
) -> Callable[[str, list[str]], Awaitable[object]]:
    async def fan_out(tweet: str, followers: list[str]) -> None:
        keys = iter(map(feed_key, followers))
        while batch := list(islice(keys, size)):
            await runner.run_grouped(by_slot(batch), [tweet, 1000, "", ""])

    return fan_out


async def measure(url: str, single_url: str, followers: int, tweets: int, size: int) -> dict[str, float]:
    ids = [str(uuid.uuid4()) for _ in range(followers)]
    rates = {}
    single = Redis.from_url(single_url, decode_responses=True)
    store: FeedStore
    try:
        rates["one server (FeedStore.fan_out)"] = await deliveries_per_second(
            ids, tweets, FeedStore(single).fan_out
        )
        await single.delete(*map(feed_key, ids))
    finally:
        await single.aclose()
    cluster = RedisCluster.from_url(url, decode_responses=True)
    try:
        await cluster.ping()
        slow = ClusterScript(cluster, _INSERT)  # type: ignore[arg-type]
        rates["cluster, cluster pipeline (before)"] = await deliveries_per_second(
            ids, tweets, _grouped(slow, size)
        )
        fast = NodePipelines(cluster, slow, _INSERT)  # type: ignore[arg-type]
        rates["cluster, per-node pipelines (after)"] = await deliveries_per_second(
            ids, tweets, _grouped(fast, size)
        )
        await fast.close()
        store = FeedStore(cluster, batch_size=size)  # type: ignore[arg-type]
        rates["cluster (FeedStore.fan_out, tombstone checks included)"] = await deliveries_per_second(
            ids, tweets, store.fan_out
        )
        await store.close()
    finally:
        await cluster.aclose()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", type=int, default=20_000)
    parser.add_argument("--tweets", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1000, help="feeds per round (redis_batch_size)")
    parser.add_argument("--db", type=int, default=12, help="database of the local Redis server")
    args = parser.parse_args()
    with redis_cluster() as url:
        rates = asyncio.run(
            measure(url, f"redis://127.0.0.1:6379/{args.db}", args.followers, args.tweets, args.batch)
        )
    for name, rate in rates.items():
        print(f"{name:58} {rate:>10,.0f} deliveries/s")


if __name__ == "__main__":
    main()
