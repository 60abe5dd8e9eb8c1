"""Invalidation streams (shared.invalidation) on a real Redis, single server and Cluster: announced
keys reach every reader once, and a reader that cannot know what changed forgets everything."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from devtools.redis_cluster import REDIS_MODES
from shared.invalidation import Invalidations, announce, stream_key

pytestmark = pytest.mark.parametrize("redis", REDIS_MODES, indirect=True)


class Cache:
    def __init__(self) -> None:
        self.forgotten: list[str] = []
        self.cleared = 0

    def forget(self, keys: list[str]) -> None:
        self.forgotten.extend(keys)

    def forget_all(self) -> None:
        self.cleared += 1


def reader(redis: Redis, cache: Cache) -> Invalidations:
    return Invalidations(redis, "test", cache.forget, cache.forget_all)


async def test_announced_keys_reach_every_reader_once(redis: Redis) -> None:
    await announce(redis, "test", ["before"])
    first, second = Cache(), Cache()
    readers = [reader(redis, first), reader(redis, second)]
    for each in readers:
        await each.read()
    # A first read starts at the end and forgets everything: older entries are not replayed.
    assert (first.forgotten, first.cleared) == ([], 1)

    await announce(redis, "test", ["a", "b"])
    await announce(redis, "test", ["c"])
    for each in readers:
        await each.read()
        await each.read()
    assert first.forgotten == second.forgotten == ["a", "b", "c"]
    assert first.cleared == second.cleared == 1


async def test_a_reader_behind_more_than_a_batch_reads_on_until_level(redis: Redis) -> None:
    cache = Cache()
    each = reader(redis, cache)
    await each.read()
    keys = [f"k{index}" for index in range(2500)]
    await announce(redis, "test", keys)
    await each.read()
    assert cache.forgotten == keys
    assert cache.cleared == 1


async def test_entries_trimmed_before_they_were_read_make_the_reader_forget_everything(
    redis: Redis,
) -> None:
    cache = Cache()
    each = reader(redis, cache)
    await announce(redis, "test", ["seen"])
    await each.read()
    await announce(redis, "test", ["lost", "kept"])
    await redis.xtrim(stream_key("test"), maxlen=1, approximate=False)
    await each.read()
    assert cache.forgotten == []
    assert cache.cleared == 2

    await announce(redis, "test", ["after"])
    await each.read()
    assert cache.forgotten == ["after"]
    assert cache.cleared == 2


async def test_a_stream_gone_with_its_entries_makes_the_reader_forget_everything(redis: Redis) -> None:
    cache = Cache()
    each = reader(redis, cache)
    await announce(redis, "test", ["one", "two"])
    await each.read()
    await redis.delete(stream_key("test"))
    await announce(redis, "test", ["three"])
    await each.read()
    assert cache.cleared == 2
