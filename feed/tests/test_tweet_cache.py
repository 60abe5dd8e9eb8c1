"""The hydrated tweet cache (`tweet:<id>`): feed reads fill it and are served from it, and every
change made through tweets shows in the very next feed read, on a Redis server and on a Redis Cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aio_pika
import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from devtools.fixtures import TWEET_FIELDS
from devtools.redis_cluster import REDIS_MODES
from devtools.testing import StartedService, wait_for
from feed.rendering import to_proto, tweet_json
from feed.tweetcache import tweet_key
from shared.ids import uuid7
from shared.messaging.events import TweetEvent
from shared.messaging.topology import TWEET_EVENTS, TWEET_UPDATE
from shared.settings import Settings
from tweets.grpc_servicer import to_proto as tweet_to_proto
from tweets.repository import TweetRow
from tweets.schemas import TweetResponse

# The services and the worker run against a Redis server, then against a Redis Cluster.
on_both_redis_modes = pytest.mark.parametrize("redis", REDIS_MODES, indirect=True)


async def read_feed(feed: StartedService, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await feed.client.get("/feed", headers=headers)
    assert response.status_code == 200, response.text
    tweets: list[dict[str, Any]] = response.json()["tweets"]
    return tweets


async def posted_and_fanned_out(
    people: Any, feed: StartedService, content: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """A new user's tweet as the cache holds it (the tweet object, without the item fields the
    write answered with), once it is in their feed (read once, so it is cached)."""
    _, headers = await people.user()
    posted = await people.post(headers, content)
    tweet = {key: value for key, value in posted.items() if key in TWEET_FIELDS}

    async def arrived() -> bool:
        return [shown["id"] for shown in await read_feed(feed, headers)] == [tweet["id"]]

    await wait_for(arrived, timeout=30)
    return tweet, headers


@on_both_redis_modes
async def test_a_read_fills_the_cache_with_a_bounded_lifetime_and_later_reads_use_it(
    people: Any, feed_service: StartedService, redis: Redis, settings: Settings
) -> None:
    tweet, headers = await posted_and_fanned_out(people, feed_service, "cache me")

    cached = await redis.get(tweet_key(tweet["id"]))
    assert cached is not None and orjson.loads(cached) == tweet
    lifetime_ms = await redis.pttl(tweet_key(tweet["id"]))
    assert 0 < lifetime_ms <= settings.feedservice.tweet_cache_ttl_seconds * 1000
    # What the next read shows comes from the entry, not from tweets.
    await redis.set(tweet_key(tweet["id"]), orjson.dumps(tweet | {"content": "served from the cache"}))
    assert [shown["content"] for shown in await read_feed(feed_service, headers)] == ["served from the cache"]


@on_both_redis_modes
async def test_likes_reposts_and_replies_show_in_the_next_read(
    people: Any, feed_service: StartedService
) -> None:
    tweet, headers = await posted_and_fanned_out(people, feed_service, "count me")
    _, fan = await people.user()
    tweets = people.tweets.client

    for path in (f"/tweet/like/{tweet['id']}", f"/tweet/repost/{tweet['id']}"):
        assert (await tweets.post(path, headers=fan)).status_code == 201
    reply = await tweets.post(f"/tweet/reply/{tweet['id']}", json={"content": "nice"}, headers=fan)
    assert reply.status_code == 201, reply.text
    (shown,) = await read_feed(feed_service, headers)
    assert (shown["num_likes"], shown["num_reposts"], shown["num_replys"]) == (1, 1, 1)

    assert (await tweets.delete(f"/tweet/like/{tweet['id']}", headers=fan)).status_code == 204
    (shown,) = await read_feed(feed_service, headers)
    assert (shown["num_likes"], shown["num_reposts"], shown["num_replys"]) == (0, 1, 1)


@on_both_redis_modes
async def test_an_edit_shows_in_the_next_read(people: Any, feed_service: StartedService) -> None:
    tweet, headers = await posted_and_fanned_out(people, feed_service, "before the edit")

    edited = await people.tweets.client.patch(
        f"/tweet/{tweet['id']}", json={"content": "after the edit"}, headers=headers
    )
    assert edited.status_code == 200, edited.text
    (shown,) = await read_feed(feed_service, headers)
    assert shown | edited.json() == shown, "the feed item shows the edited tweet as tweets serves it"


@on_both_redis_modes
async def test_an_update_event_drops_a_stale_entry(
    people: Any, feed_service: StartedService, redis: Redis, settings: Settings
) -> None:
    """The event path: a drop by tweets that never happened (Redis away) is made up by the worker."""
    tweet, _ = await posted_and_fanned_out(people, feed_service, "stale?")
    await redis.set(tweet_key(tweet["id"]), orjson.dumps(tweet | {"content": "stale"}))
    event = TweetEvent(
        event_type=TWEET_UPDATE,
        tweet_id=tweet["id"],
        user_id=tweet["user_id"],
        content="fresh",
        created_at=tweet["created_at"],
        updated_at=datetime.now(UTC),
    )
    connection = await aio_pika.connect(settings.rabbitmq.url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(TWEET_EVENTS)
        await exchange.publish(aio_pika.Message(event.model_dump_json().encode()), routing_key=TWEET_UPDATE)

    async def dropped() -> bool:
        return await redis.exists(tweet_key(tweet["id"])) == 0

    await wait_for(dropped, timeout=30)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    content=st.text(st.characters(blacklist_categories=("Cs",)), max_size=300),
    created=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)),
    likes=st.integers(min_value=0, max_value=2**53),
    tags=st.lists(st.text(min_size=1, max_size=20), max_size=3),
    mentioned=st.lists(st.from_regex(r"[a-z0-9_]{3,32}", fullmatch=True), max_size=3),
)
def test_a_cached_tweet_is_the_same_json_the_tweets_api_writes(
    content: str, created: datetime, likes: int, tags: list[str], mentioned: list[str]
) -> None:
    row = TweetRow(
        id=uuid7(),
        user_id=uuid7(),
        content=content,
        num_likes=likes,
        num_replys=3,
        num_reposts=0,
        created_at=created.replace(tzinfo=UTC),
        updated_at=created.replace(tzinfo=UTC, microsecond=0),
        hashtags=tags,
        mention_ids=[uuid7() for _ in mentioned],
        mention_usernames=mentioned,
    )
    reply = tweet_to_proto(row)
    assert tweet_json(reply) == TweetResponse.model_validate(row).model_dump_json()
    assert to_proto(tweet_json(reply)) == reply
