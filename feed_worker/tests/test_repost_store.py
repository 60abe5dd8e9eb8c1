"""The feed store's repost fan-out: placed by repost time, at most one entry per tweet, never left in
a feed by a delete or an undo that raced it; on a Redis server and on a Redis Cluster (where the
feeds of one call share a hash slot and the tombstones are checked around each batch)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from devtools.redis_cluster import REDIS_MODES
from feed.entries import feed_key, repost_entry, repost_tombstone_key, tombstone_key
from feed.feedstore import FeedStore
from shared.ids import uuid7
from shared.lifecycle import is_cluster

from .conftest import ids, sync_client

pytestmark = pytest.mark.parametrize("redis", REDIS_MODES, indirect=True)

# Enough feeds for several batches, each spanning many hash slots (and every node) on a cluster.
READERS = [f"r{index}" for index in range(450)]


async def feeds(redis: Redis, users: list[str]) -> list[list[str]]:
    async with redis.pipeline(transaction=False) as pipe:
        for user in users:
            pipe.lrange(feed_key(user), 0, -1)
        return list(await pipe.execute())


async def test_a_repost_lands_by_repost_time_in_every_feed_of_every_batch(redis: Redis) -> None:
    store = FeedStore(redis, batch_size=100)
    tweet, between = ids(2)
    for original in (tweet, between):
        assert await store.fan_out(original, ["owner"]) == 1
    await store.fan_out(between, READERS)
    entry = repost_entry(uuid7(), tweet, "a0000000-0000-7000-8000-000000000000")
    newest = ids(1)[0]
    await store.fan_out(newest, READERS)

    assert await store.fan_out_repost(entry, READERS) == len(READERS)
    assert await store.fan_out_repost(entry, READERS) == 0, "a second delivery changes nothing"
    if is_cluster(redis):
        assert len({key_slot(feed_key(user).encode()) for user in READERS}) > 100
    assert set(map(tuple, await feeds(redis, READERS))) == {(newest, entry, between)}


async def test_a_feed_showing_the_tweet_gets_no_second_entry(redis: Redis) -> None:
    store = FeedStore(redis, batch_size=100)
    (tweet,) = ids(1)
    has_original, has_other_repost, has_nothing = READERS[:150], READERS[150:300], READERS[300:]
    await store.fan_out(tweet, has_original)
    other = repost_entry(uuid7(), tweet, "b0000000-0000-7000-8000-000000000000")
    await store.fan_out_repost(other, has_other_repost)
    entry = repost_entry(uuid7(), tweet, "c0000000-0000-7000-8000-000000000000")

    assert await store.fan_out_repost(entry, READERS) == len(has_nothing)
    assert set(map(tuple, await feeds(redis, has_original))) == {(tweet,)}
    assert set(map(tuple, await feeds(redis, has_other_repost))) == {(other,)}
    assert set(map(tuple, await feeds(redis, has_nothing))) == {(entry,)}
    # The create event handled after the repost: no second entry either.
    assert await store.fan_out(tweet, has_nothing) == 0
    assert set(map(tuple, await feeds(redis, has_nothing))) == {(entry,)}


async def test_an_original_older_than_the_newest_64_entries_is_found(redis: Redis) -> None:
    # The script looks at the newest 64 entries first, and reads the whole feed only past them.
    store = FeedStore(redis, batch_size=100)
    tweet, *newer = ids(101)
    await store.fan_out(tweet, ["deep"])
    await store.merge("deep", newer)
    await store.merge("without", [*newer])
    entry = repost_entry(uuid7(), tweet, "f0000000-0000-7000-8000-000000000000")

    assert await store.fan_out_repost(entry, ["deep", "without"]) == 1
    assert await store.ids("deep") == [*reversed(newer), tweet]
    assert await store.ids("without") == [entry, *reversed(newer)]
    # A tweet newer than every entry (a fresh tweet reposted): its entry goes first, read from the head.
    fresh = repost_entry(uuid7(), ids(1)[0], "f0000000-0000-7000-8000-000000000000")
    assert await store.fan_out_repost(fresh, ["deep"]) == 1
    assert await store.ids("deep") == [fresh, *reversed(newer), tweet]


@pytest.mark.parametrize("gone", ["tweet deleted", "repost undone"])
async def test_a_repost_marked_gone_before_its_fan_out_goes_nowhere(redis: Redis, gone: str) -> None:
    store = FeedStore(redis, batch_size=100)
    repost_id, (tweet,) = str(uuid7()), ids(1)
    entry = repost_entry(repost_id, tweet, "d0000000-0000-7000-8000-000000000000")
    if gone == "tweet deleted":
        await store.mark_deleted(tweet)
    else:
        await store.mark_unreposted(entry)
    assert await store.fan_out_repost(entry, READERS) == 0
    assert set(map(tuple, await feeds(redis, READERS))) == {()}


@pytest.mark.parametrize("gone", ["tweet deleted", "repost undone"])
async def test_a_delete_or_undo_marked_during_a_repost_fan_out_leaves_no_feed_holding_it(
    redis: Redis, gone: str
) -> None:
    # The tombstone appears after the check before the batch, while its feeds are being read from
    # the follower pages. The delete's (or undo's) own removal, which runs after its tombstone, is
    # left out: the fan-out alone must leave no feed holding the entry (on a cluster, by taking it
    # back out of the batch it wrote across hundreds of slots).
    store = FeedStore(redis, batch_size=1000)
    repost_id, (tweet,) = str(uuid7()), ids(1)
    entry = repost_entry(repost_id, tweet, "e0000000-0000-7000-8000-000000000000")
    tombstone = tombstone_key(tweet) if gone == "tweet deleted" else repost_tombstone_key(repost_id)
    other = sync_client(redis)

    def followers() -> Iterator[str]:
        yield READERS[0]
        other.set(tombstone, 1)
        yield from READERS[1:]

    try:
        assert await store.fan_out_repost(entry, followers()) == 0
    finally:
        other.close()
        await store.close()
    assert set(map(tuple, await feeds(redis, READERS))) == {()}
