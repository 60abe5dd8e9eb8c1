"""The Redis feed store: order, dedup, trimming, merging, removal and paging, on a real Redis server
and on a real Redis Cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.asyncio import Redis

from devtools.redis_cluster import REDIS_MODES
from feed.entries import FEED_LENGTH, feed_key, tombstone_key
from feed.feedstore import FeedStore
from feed.pages import FeedPages
from feed.tweetcache import tweet_key
from shared.lifecycle import is_cluster

from .conftest import ids, sync_client

pytestmark = pytest.mark.parametrize("redis", REDIS_MODES, indirect=True)


async def test_fan_out_puts_the_newest_tweet_first(store: FeedStore, redis: Redis) -> None:
    older, newer = ids(2)
    await store.fan_out(older, ["u1"])
    await store.fan_out(newer, ["u1"])
    assert await redis.lrange(feed_key("u1"), 0, -1) == [newer, older]


async def test_fan_out_of_the_same_tweet_twice_changes_nothing(store: FeedStore, redis: Redis) -> None:
    first, second, third = ids(3)
    for tweet in (first, second, third):
        await store.fan_out(tweet, ["u1"])
    assert await store.fan_out(third, ["u1"]) == 0  # equal to the head
    assert await store.fan_out(first, ["u1"]) == 0  # further down
    assert await redis.lrange(feed_key("u1"), 0, -1) == [third, second, first]


async def test_a_late_older_tweet_lands_in_sorted_position(store: FeedStore, redis: Redis) -> None:
    a, b, c, d = ids(4)
    for tweet in (d, a, c, b):
        await store.fan_out(tweet, ["u1"])
    assert await redis.lrange(feed_key("u1"), 0, -1) == [d, c, b, a]


async def test_a_late_tweet_older_than_the_newest_64_is_placed_and_deduplicated(
    store: FeedStore, redis: Redis
) -> None:
    # Past the window the script looks at first, it must fall back to scanning the whole feed.
    timeline = ids(201)
    late = timeline.pop(50)  # newer than 50 entries, older than the newest 150
    for tweet in timeline:
        await store.fan_out(tweet, ["u1"])
    assert await store.fan_out(late, ["u1"]) == 1
    assert await store.fan_out(late, ["u1"]) == 0
    oldest = timeline[0]
    assert await store.fan_out(oldest, ["u1"]) == 0  # a duplicate at the very end
    assert await redis.lrange(feed_key("u1"), 0, -1) == sorted([*timeline, late], reverse=True)


async def test_feed_is_trimmed_to_1000_keeping_the_newest(store: FeedStore, redis: Redis) -> None:
    tweets = ids(FEED_LENGTH + 5)
    await store.merge("u1", tweets[:FEED_LENGTH])
    for tweet in tweets[FEED_LENGTH:]:
        await store.fan_out(tweet, ["u1"])
    feed = await redis.lrange(feed_key("u1"), 0, -1)
    assert len(feed) == FEED_LENGTH
    assert feed == list(reversed(tweets))[:FEED_LENGTH]
    # Older than everything in a full feed: it would be trimmed at once, so it is not added.
    assert await store.fan_out(tweets[0], ["u1"]) == 0
    assert await redis.llen(feed_key("u1")) == FEED_LENGTH


async def test_fan_out_to_10000_feeds_is_10_script_calls_in_one_round_trip(
    redis: Redis, finished_spans: InMemorySpanExporter
) -> None:
    store = FeedStore(redis, batch_size=1000)
    users = [f"u{index}" for index in range(10_000)]
    (tweet,) = ids(1)
    finished_spans.clear()
    assert await store.fan_out(tweet, users) == len(users)
    if not is_cluster(redis):
        # The Redis instrumentation makes one span per round trip (a pipeline's span names its commands).
        round_trips = [span.name for span in finished_spans.get_finished_spans() if "EVALSHA" in span.name]
        assert round_trips == [" ".join(["EVALSHA"] * 10)]
    async with redis.pipeline(transaction=False) as pipe:
        for user in users:
            pipe.lindex(feed_key(user), 0)
        heads = await pipe.execute()
    assert set(heads) == {tweet}


async def test_a_deleted_tweet_is_not_fanned_out_again(store: FeedStore, redis: Redis) -> None:
    (tweet,) = ids(1)
    await store.fan_out(tweet, ["u1", "u2"])
    await store.mark_deleted(tweet)
    assert await store.remove([tweet], ["u1", "u2"]) == 2
    assert await store.fan_out(tweet, ["u1", "u2", "u3"]) == 0
    assert await redis.exists(feed_key("u1"), feed_key("u2"), feed_key("u3")) == 0


async def test_merge_interleaves_deduplicates_and_trims(store: FeedStore, redis: Redis) -> None:
    tweets = ids(10)
    for tweet in tweets[::2]:
        await store.fan_out(tweet, ["u1"])
    assert await store.merge("u1", [*tweets[1::2], tweets[4], tweets[1]]) == 10
    assert await redis.lrange(feed_key("u1"), 0, -1) == list(reversed(tweets))

    many = ids(FEED_LENGTH + 50)
    assert await store.merge("u1", many) == FEED_LENGTH
    assert await redis.lrange(feed_key("u1"), 0, -1) == list(reversed(many))[:FEED_LENGTH]


async def test_remove_takes_tweets_out_of_every_feed(store: FeedStore, redis: Redis) -> None:
    keep, gone_1, gone_2 = ids(3)
    users = [f"u{index}" for index in range(250)]
    for tweet in (keep, gone_1, gone_2):
        await store.fan_out(tweet, users)
    assert await store.remove([gone_1, gone_2], users) == 500
    for user in users:
        assert await redis.lrange(feed_key(user), 0, -1) == [keep]


async def test_pages_by_offset_report_the_total(store: FeedStore, redis: Redis) -> None:
    tweets = ids(5)
    await store.merge("u1", tweets)
    page = await FeedPages(redis).page("u1", limit=2, offset=2)
    assert page.ids == [tweets[2], tweets[1]]
    assert (page.total, page.offset, page.has_more) == (5, 2, True)
    last = await FeedPages(redis).page("u1", limit=2, offset=4)
    assert (last.ids, last.has_more) == ([tweets[0]], False)


async def test_page_before_works_when_the_anchor_was_removed(store: FeedStore, redis: Redis) -> None:
    tweets = ids(6)
    await store.merge("u1", tweets)
    await store.remove([tweets[3]], ["u1"])
    page = await FeedPages(redis).page_by_cursor("u1", 2, before=tweets[3])
    assert page.ids == [tweets[2], tweets[1]]
    assert (page.total, page.offset, page.has_more) == (5, 2, True)
    assert (await FeedPages(redis).page_by_cursor("u1", 2, before=tweets[0])).ids == []


async def test_a_delete_marked_while_a_batch_is_written_leaves_no_feed_holding_the_tweet(
    redis: Redis,
) -> None:
    # On a cluster the tombstone is checked outside the insert script, before and after each batch:
    # here it appears after the first check, while the batch is being read from the follower pages.
    store = FeedStore(redis, batch_size=500)
    (tweet,) = ids(1)
    users = [f"u{index}" for index in range(300)]
    other = sync_client(redis)

    def followers() -> Iterator[str]:
        yield users[0]
        other.set(tombstone_key(tweet), 1)
        yield from users[1:]

    await store.fan_out(tweet, followers())
    other.close()
    async with redis.pipeline(transaction=False) as pipe:
        for user in users:
            pipe.lrange(feed_key(user), 0, -1)
        assert set(map(tuple, await pipe.execute())) == {()}


async def test_pages_carry_the_cached_copies_of_their_tweets(store: FeedStore, redis: Redis) -> None:
    tweets = ids(30)
    await store.merge("u1", tweets)
    for tweet in tweets[::3]:
        await redis.set(tweet_key(tweet), f"body of {tweet}")
    newest_first = list(reversed(tweets))
    expected = [f"body of {tweet}" if tweet in tweets[::3] else None for tweet in newest_first[:20]]
    assert (await FeedPages(redis).page("u1", limit=20, offset=0, cache_prefix="tweet:")).cached == expected
    older = await FeedPages(redis).page_by_cursor("u1", 20, before=newest_first[9], cache_prefix="tweet:")
    assert older.cached == [
        f"body of {tweet}" if tweet in tweets[::3] else None for tweet in newest_first[10:]
    ]


async def test_fan_out_survives_nodes_that_forgot_the_script(redis: Redis) -> None:
    """On a cluster the per-node path's NOSCRIPT answers go through the cluster path, which loads
    the script again (a restarted node, a promoted replica); on one server EVALSHA reloads it."""
    store = FeedStore(redis, batch_size=1000)
    users = [f"u{index}" for index in range(2000)]
    first, second = ids(2)
    assert await store.fan_out(first, users) == len(users)
    await redis.script_flush()
    try:
        assert await store.fan_out(second, users) == len(users)
    finally:
        await store.close()
    async with redis.pipeline(transaction=False) as pipe:
        for user in users:
            pipe.lrange(feed_key(user), 0, -1)
        assert set(map(tuple, await pipe.execute())) == {(second, first)}
