"""The feed worker end to end on its inputs: events on RabbitMQ in, Redis feeds out (a Redis server,
and a Redis Cluster).

The real users service answers GetFollowers / GetFollowing and the real tweets service GetUserTweets;
follows for fan-out are written straight into the users database so that large audiences are cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from devtools.redis_cluster import REDIS_MODES
from devtools.testing import wait_for
from feed.entries import feed_key
from feed.feedstore import FeedStore
from feed.sources import FollowGraph, TweetSource
from feed_worker.fanout import FeedFanout
from fleet_proto import tweet_service_pb2_grpc, user_service_pb2_grpc
from shared.auth import TokenCodec
from shared.grpc.channels import open_channel
from shared.ids import uuid7
from shared.messaging.topology import TWEET_CREATE, TWEET_DELETE, TWEET_EVENTS, USER_FOLLOW, USER_UNFOLLOW

pytestmark = pytest.mark.parametrize("redis", REDIS_MODES, indirect=True)


async def feed(redis: Redis, user_id: str) -> list[str]:
    return list(await redis.lrange(feed_key(user_id), 0, -1))


async def feeds(redis: Redis, user_ids: list[str]) -> list[list[str]]:
    async with redis.pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.lrange(feed_key(user_id), 0, -1)
        return list(await pipe.execute())


async def test_a_tweet_reaches_its_author_and_all_2000_followers(kit: Any, redis: Redis) -> None:
    author, *followers = await kit.insert_users(2001)
    await kit.insert_follows(author, followers)
    tweet = str(uuid7())
    await kit.publish_tweet(TWEET_CREATE, tweet, author)

    async def everyone_has_it() -> bool:
        return all(entries == [tweet] for entries in await feeds(redis, [author, *followers]))

    await wait_for(everyone_has_it, timeout=30)


async def test_the_same_message_delivered_twice_is_stored_once(kit: Any, redis: Redis) -> None:
    author, follower = await kit.insert_users(2)
    await kit.insert_follows(author, [follower])
    older, tweet = str(uuid7()), str(uuid7())
    await kit.publish_tweet(TWEET_CREATE, older, author)
    event = kit.tweet_event(TWEET_CREATE, tweet, author)
    for _ in range(2):
        await kit.publish(TWEET_EVENTS, TWEET_CREATE, event, message_id=str(event.event_id))
    await kit.wait_until_drained("general_tweets")
    assert await feeds(redis, [author, follower]) == [[tweet, older], [tweet, older]]


async def test_an_older_tweet_arriving_late_is_placed_in_order(kit: Any, redis: Redis) -> None:
    author, follower = await kit.insert_users(2)
    await kit.insert_follows(author, [follower])
    first, second, third = (str(uuid7()) for _ in range(3))
    for tweet in (third, first):
        await kit.publish_tweet(TWEET_CREATE, tweet, author)
    await wait_for(lambda: feed(redis, follower), timeout=30)
    await kit.wait_until_drained("general_tweets")
    await kit.publish_tweet(TWEET_CREATE, second, author)
    await wait_for(lambda: _equals(feed(redis, follower), [third, second, first]), timeout=30)
    assert await feed(redis, author) == [third, second, first]


async def test_a_deleted_tweet_leaves_every_feed(kit: Any, redis: Redis) -> None:
    author, *followers = await kit.insert_users(301)
    await kit.insert_follows(author, followers)
    kept, deleted = str(uuid7()), str(uuid7())
    for tweet in (kept, deleted):
        await kit.publish_tweet(TWEET_CREATE, tweet, author)
    everyone = [author, *followers]

    async def everyone_has(expected: list[str]) -> bool:
        return all(entries == expected for entries in await feeds(redis, everyone))

    await wait_for(lambda: everyone_has([deleted, kept]), timeout=30)
    await kit.publish_tweet(TWEET_DELETE, deleted, author)
    await wait_for(lambda: everyone_has([kept]), timeout=30)


async def test_a_create_redelivered_around_its_delete_does_not_bring_the_tweet_back(
    kit: Any, redis: Redis
) -> None:
    author, *followers = await kit.insert_users(51)
    await kit.insert_follows(author, followers)
    tweet = str(uuid7())
    # Handled concurrently (prefetch), in any order: the tombstone makes the end state the same.
    for event_type in (TWEET_CREATE, TWEET_DELETE, TWEET_CREATE):
        await kit.publish_tweet(event_type, tweet, author)
    await kit.wait_until_drained("general_tweets")
    assert await feeds(redis, [author, *followers]) == [[] for _ in range(51)]


async def test_follow_backfills_recent_tweets_and_unfollow_removes_them(
    kit: Any, redis: Redis, users_service: Any, tweets_service: Any
) -> None:
    followed_user, follower = await kit.insert_users(2)
    codec = TokenCodec(kit.settings.jwt)
    headers = {
        uid: {"Authorization": f"Bearer {codec.issue(uuid.UUID(uid), 'someone')}"}
        for uid in (followed_user, follower)
    }

    async def post_tweet(author: str, content: str) -> str:
        response = await tweets_service.client.post(
            "/tweet", json={"content": content}, headers=headers[author]
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    theirs_1 = await post_tweet(followed_user, "first of theirs")
    mine_1 = await post_tweet(follower, "first of mine")
    theirs_2 = await post_tweet(followed_user, "second of theirs")
    theirs_3 = await post_tweet(followed_user, "third of theirs")
    mine_2 = await post_tweet(follower, "second of mine")
    theirs_4 = await post_tweet(followed_user, "fourth of theirs")
    await wait_for(lambda: _equals(feed(redis, follower), [mine_2, mine_1]), timeout=30)

    response = await users_service.client.post(f"/users/{followed_user}/follow", headers=headers[follower])
    assert response.status_code == 201, response.text
    # backfill_limit is 3 in these tests: the followed account's three newest, merged in id order.
    await wait_for(
        lambda: _equals(feed(redis, follower), [theirs_4, mine_2, theirs_3, theirs_2, mine_1]), timeout=30
    )
    assert theirs_1 not in await feed(redis, follower)

    response = await users_service.client.delete(f"/users/{followed_user}/follow", headers=headers[follower])
    assert response.status_code == 204, response.text
    await wait_for(lambda: _equals(feed(redis, follower), [mine_2, mine_1]), timeout=30)


async def test_follow_events_out_of_order_follow_the_current_graph(kit: Any, redis: Redis) -> None:
    followed_user, follower, stranger = await kit.insert_users(3)
    mine, theirs = str(uuid7()), str(uuid7())
    await kit.publish_tweet(TWEET_CREATE, mine, follower)
    await wait_for(lambda: feed(redis, follower), timeout=30)
    await kit.insert_follows(followed_user, [follower])
    await kit.publish_tweet(TWEET_CREATE, theirs, followed_user)
    await wait_for(lambda: _equals(feed(redis, follower), [theirs, mine]), timeout=30)
    # An unfollow that arrives while the follow still exists (a re-follow) removes nothing;
    # a follow whose follow no longer exists (an unfollow overtook it) backfills nothing.
    await kit.publish_follow(USER_UNFOLLOW, follower, followed_user)
    await kit.publish_follow(USER_FOLLOW, stranger, followed_user)
    await kit.wait_until_drained("feed_follows")
    assert await feed(redis, follower) == [theirs, mine]
    assert await feed(redis, stranger) == []


async def test_a_malformed_message_is_dead_lettered_and_the_next_one_handled(kit: Any, redis: Redis) -> None:
    (author,) = await kit.insert_users(1)
    garbage = b"{not json"
    invalid = orjson.dumps({"event_type": "tweet.create", "tweet_id": "not-an-id"})
    await kit.publish(TWEET_EVENTS, TWEET_CREATE, garbage)
    await kit.publish(TWEET_EVENTS, TWEET_CREATE, invalid)
    tweet = str(uuid7())
    await kit.publish_tweet(TWEET_CREATE, tweet, author)
    await wait_for(lambda: _equals(feed(redis, author), [tweet]), timeout=30)
    await kit.wait_until_drained("general_tweets")

    dlq = await kit.channel.get_queue("general_tweets.dlq")
    dead = []
    while (message := await dlq.get(no_ack=True, fail=False)) is not None:
        dead.append(message.body)
    assert sorted(dead) == sorted([garbage, invalid])


async def _equals(actual: Any, expected: list[str]) -> bool:
    return bool(await actual == expected)


class _PausedTweets(TweetSource):
    """The real tweets source, which stops after reading a followed_user's ids until let go: another
    worker process can then handle the opposite follow event in between."""

    def __init__(self, inner: TweetSource) -> None:
        self._inner = inner
        self.reached = asyncio.Event()
        self.go_on = asyncio.Event()

    async def recent_ids(self, user_id: str, limit: int) -> list[str]:
        ids = await self._inner.recent_ids(user_id, limit)
        if not self.go_on.is_set():
            self.reached.set()
            await self.go_on.wait()
        return ids

    async def recent_repost_entries(self, user_id: str, limit: int) -> list[str]:
        return await self._inner.recent_repost_entries(user_id, limit)


@contextlib.asynccontextmanager
async def _two_workers(kit: Any, redis: Redis) -> AsyncIterator[tuple[FeedFanout, FeedFanout, _PausedTweets]]:
    """Two fan-outs as two feed_worker processes run them (separate locks), over the same Redis and
    the real users and tweets gRPC services; the first one pauses inside its handler."""
    settings = kit.settings
    token = settings.internal.service_token
    users = open_channel(
        settings.userservice.grpc_target, "users", settings.userservice.grpc_timeout_seconds, token
    )
    tweets = open_channel(
        settings.tweetservice.grpc_target, "tweets", settings.tweetservice.grpc_timeout_seconds, token
    )
    try:
        store = FeedStore(redis, batch_size=100)
        graph = FollowGraph(user_service_pb2_grpc.UserStub(users), 250)
        source = TweetSource(tweet_service_pb2_grpc.TweetStub(tweets))
        paused = _PausedTweets(source)
        yield (
            FeedFanout(store, graph, paused, settings.feedworker),
            FeedFanout(store, graph, source, settings.feedworker),
            paused,
        )
    finally:
        await users.close(None)
        await tweets.close(None)


async def _delete_follow(kit: Any, follower: str, followed_user: str) -> None:
    async with kit.users_engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM follows WHERE follower_id = :follower AND following_id = :followed_user"),
            {"follower": uuid.UUID(follower), "followed_user": uuid.UUID(followed_user)},
        )


async def _tweets_of(kit: Any, tweets_service: Any, author: str, count: int) -> list[str]:
    token = TokenCodec(kit.settings.jwt).issue(uuid.UUID(author), "someone")
    ids = []
    for index in range(count):
        response = await tweets_service.client.post(
            "/tweet", json={"content": f"tweet {index}"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 201, response.text
        ids.append(str(response.json()["id"]))
    return ids[::-1]  # newest first, as feeds hold them


async def test_a_follow_overtaken_by_an_unfollow_in_another_worker_leaves_no_tweets(
    kit: Any, redis: Redis, tweets_service: Any
) -> None:
    followed_user, follower = await kit.insert_users(2)
    await _tweets_of(kit, tweets_service, followed_user, 2)
    await kit.wait_until_drained("general_tweets")
    await kit.insert_follows(followed_user, [follower])
    async with _two_workers(kit, redis) as (first, second, paused):
        # The first worker sees the follow and reads the followed account's tweets...
        follow = asyncio.create_task(first.followed(follower, followed_user))
        await asyncio.wait_for(paused.reached.wait(), 10)
        # ...the unfollow commits and the second worker handles its event (nothing to remove yet)...
        await _delete_follow(kit, follower, followed_user)
        await second.unfollowed(follower, followed_user)
        # ...then the first one merges what it had read.
        paused.go_on.set()
        await asyncio.wait_for(follow, 10)
    assert await feed(redis, follower) == []


async def test_an_unfollow_overtaken_by_a_refollow_in_another_worker_keeps_the_backfill(
    kit: Any, redis: Redis, tweets_service: Any
) -> None:
    followed_user, follower = await kit.insert_users(2)
    newest = await _tweets_of(kit, tweets_service, followed_user, 4)
    await kit.wait_until_drained("general_tweets")
    backfill = newest[: kit.settings.feedworker.backfill_limit]
    await kit.insert_follows(followed_user, [follower])
    async with _two_workers(kit, redis) as (first, second, paused):
        paused.go_on.set()
        await first.followed(follower, followed_user)
        assert await feed(redis, follower) == backfill
        paused.go_on.clear()
        # The unfollow commits and the first worker reads the tweets to remove...
        await _delete_follow(kit, follower, followed_user)
        unfollow = asyncio.create_task(first.unfollowed(follower, followed_user))
        await asyncio.wait_for(paused.reached.wait(), 10)
        # ...a re-follow commits and the second worker backfills (already there)...
        await kit.insert_follows(followed_user, [follower])
        await second.followed(follower, followed_user)
        # ...then the first one removes what it had read.
        paused.go_on.set()
        await asyncio.wait_for(unfollow, 10)
    assert await feed(redis, follower) == backfill
