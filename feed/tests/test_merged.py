"""Merged reads (hybrid fan-out): a reader's own feed and big authors' lists read as one feed, newest
first, one entry per tweet, with offset, before and since_id paging stable while tweets arrive; on a
Redis server and on a Redis Cluster (every call touches one key)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from devtools.redis_cluster import REDIS_MODES
from feed.authorfeeds import AuthorFeeds, author_feed_key
from feed.entries import entry_cursor, entry_parts, feed_key, repost_entry
from feed.feedstore import FeedStore
from feed.merged import MergedFeeds
from feed.viewers import ViewerCache, parse, viewer_keys
from shared.ids import uuid7
from shared.lifecycle import is_cluster

pytestmark = pytest.mark.parametrize("redis", REDIS_MODES, indirect=True)


def new_id() -> str:
    return str(uuid7())


async def own_feed(redis: Redis, user_id: str, entries: list[str]) -> None:
    await redis.rpush(feed_key(user_id), *sorted(entries, key=entry_cursor, reverse=True))


async def all_pages(merged: MergedFeeds, reader: str, authors: list[str], limit: int) -> list[str]:
    """Every entry, page by page through next cursors."""
    seen: list[str] = []
    page = await merged.page(reader, authors, limit)
    seen.extend(page.ids)
    while page.has_more:
        page = await merged.page(reader, authors, limit, before=entry_cursor(seen[-1]))
        seen.extend(page.ids)
    return seen


async def test_a_page_merges_the_big_authors_lists_newest_first_one_entry_per_tweet(redis: Redis) -> None:
    reader, big_a, big_b = (new_id() for _ in range(3))
    t1, t2, t3, t4, t5 = (new_id() for _ in range(5))
    reposted_t1 = repost_entry(new_id(), t1, big_b)
    await own_feed(redis, reader, [t1, t3, t5])
    authors = AuthorFeeds(redis)
    for entry in (t2, t3, t4):  # t3 fanned out before big_a became big: in both lists
        assert await authors.push(big_a, entry)
    assert await authors.push(big_b, reposted_t1)

    page = await MergedFeeds(redis).page(reader, [big_a, big_b], limit=10)

    # t1 shows once, at its newest entry (big_b's repost); t3 once.
    assert page.ids == [reposted_t1, t5, t4, t3, t2]
    assert not page.has_more
    assert [entry_parts(entry)[0] for entry in page.ids].count(t1) == 1


async def test_offset_pages_and_before_pages_cover_the_merged_feed_once(redis: Redis) -> None:
    reader, big_a, big_b = (new_id() for _ in range(3))
    authors = AuthorFeeds(redis)
    expected: list[str] = []
    own: list[str] = []
    for index in range(30):
        tweet = new_id()
        expected.append(tweet)
        if index % 3 == 0:
            own.append(tweet)
        else:
            await authors.push(big_a if index % 3 == 1 else big_b, tweet)
    await own_feed(redis, reader, own)
    expected.reverse()
    merged = MergedFeeds(redis)

    assert await all_pages(merged, reader, [big_a, big_b], limit=7) == expected
    by_offset = [
        entry
        for offset in range(0, 30, 7)
        for entry in (await merged.page(reader, [big_a, big_b], 7, offset=offset)).ids
    ]
    assert by_offset == expected


async def test_before_paging_stays_stable_while_tweets_arrive(redis: Redis) -> None:
    reader, big = new_id(), new_id()
    authors = AuthorFeeds(redis)
    old = [new_id() for _ in range(12)]
    await own_feed(redis, reader, old[::2])
    for tweet in old[1::2]:
        await authors.push(big, tweet)
    merged = MergedFeeds(redis)

    seen: list[str] = []
    page = await merged.page(reader, [big], 5)
    seen.extend(page.ids)
    while page.has_more:
        # New tweets land at the top of both lists between pages.
        await authors.push(big, new_id())
        await redis.lpush(feed_key(reader), new_id())
        page = await merged.page(reader, [big], 5, before=entry_cursor(seen[-1]))
        seen.extend(page.ids)

    assert seen == old[::-1]


async def test_a_tweet_reposted_above_the_cursor_is_not_shown_again_below_it(redis: Redis) -> None:
    reader, big = new_id(), new_id()
    old, middle = new_id(), new_id()
    await own_feed(redis, reader, [old, middle])
    reposted = repost_entry(new_id(), old, big)
    await AuthorFeeds(redis).push(big, reposted)
    merged = MergedFeeds(redis)

    first = await merged.page(reader, [big], 1)
    assert first.ids == [reposted] and first.has_more
    rest = await merged.page(reader, [big], 10, before=entry_cursor(reposted))
    assert rest.ids == [middle]


async def test_since_id_returns_the_newest_entries_above_it(redis: Redis) -> None:
    reader, big = new_id(), new_id()
    tweets = [new_id() for _ in range(6)]
    await own_feed(redis, reader, tweets[:3])
    for tweet in tweets[3:]:
        await AuthorFeeds(redis).push(big, tweet)

    page = await MergedFeeds(redis).page(reader, [big], 2, since=tweets[2])

    assert page.ids == [tweets[5], tweets[4]]


async def test_a_push_skips_a_deleted_tweet_and_a_tweet_the_list_shows(redis: Redis) -> None:
    big = new_id()
    authors = AuthorFeeds(redis)
    deleted, shown = new_id(), new_id()
    await FeedStore(redis).mark_deleted(deleted)

    assert not await authors.push(big, deleted)
    assert await authors.push(big, shown)
    assert not await authors.push(big, repost_entry(new_id(), shown, big))
    assert await redis.lrange(author_feed_key(big), 0, -1) == [shown]


async def test_the_readers_side_comes_with_a_merged_page_on_one_redis_server(redis: Redis) -> None:
    # On one server the page's cached tweets and the reader's hidden set and like/repost states are
    # read in one pipeline after the windows (as viewer.lua answers a plain page); on a cluster the
    # items read them apart (viewer stays None).
    reader, big = new_id(), new_id()
    mine, theirs = new_id(), new_id()
    await own_feed(redis, reader, [mine])
    assert await AuthorFeeds(redis).push(big, theirs)
    cache = ViewerCache(redis)
    await cache.store(reader, frozenset({"someone"}), {theirs: (True, False)})

    page = await MergedFeeds(redis).page(reader, [big], limit=10, viewer_keys=viewer_keys(reader))

    assert page.ids == [theirs, mine]
    if is_cluster(redis):
        assert page.viewer is None
    else:
        assert page.viewer is not None
        assert parse(page.viewer, [theirs, mine]) == await cache.read(reader, [theirs, mine])
