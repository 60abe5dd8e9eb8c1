"""Reposts travel: tweet.repost / tweet.unrepost events in, repost entries in Redis feeds out.

A repost entry is "<repost id>:<tweet id>:<reposter id>", placed by repost time; a feed shows a tweet
at most once; unrepost and delete remove what they should, in any order of delivery; on a Redis
server and on a Redis Cluster.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from devtools.redis_cluster import REDIS_MODES
from devtools.testing import wait_for
from feed.activity import last_seen_key
from feed.entries import feed_key, repost_entry
from shared.auth import TokenCodec
from shared.ids import uuid7
from shared.messaging.events import TweetActionEvent
from shared.messaging.topology import TWEET_CREATE, TWEET_DELETE, TWEET_EVENTS, TWEET_REPOST, TWEET_UNREPOST

pytestmark = pytest.mark.parametrize("redis", REDIS_MODES, indirect=True)


async def feed(redis: Redis, user_id: str) -> list[str]:
    return list(await redis.lrange(feed_key(user_id), 0, -1))


async def publish_repost(
    kit: Any, event_type: str, tweet: str, author: str, reposter: str, repost_id: str, message_id: str = ""
) -> None:
    event = TweetActionEvent(
        event_type=event_type,  # type: ignore[arg-type]
        tweet_id=uuid.UUID(tweet),
        author_id=uuid.UUID(author),
        user_id=uuid.UUID(reposter),
        repost_id=uuid.UUID(repost_id),
    )
    await kit.publish(TWEET_EVENTS, event_type, event, message_id=message_id or str(event.event_id))


async def settled(kit: Any) -> None:
    await kit.wait_until_drained("general_tweets", "feed_follows")


async def test_a_repost_reaches_the_reposter_and_followers_once_at_the_repost_time(
    kit: Any, redis: Redis
) -> None:
    author, reposter, *followers = await kit.insert_users(5)
    await kit.insert_follows(reposter, followers)
    tweet = str(uuid7())
    await kit.publish_tweet(TWEET_CREATE, tweet, author)
    between = str(uuid7())
    await kit.publish_tweet(TWEET_CREATE, between, reposter)
    await settled(kit)
    repost_id = str(uuid7())
    entry = repost_entry(repost_id, tweet, reposter)
    # Delivered twice: still one entry per feed.
    for _ in range(2):
        await publish_repost(kit, TWEET_REPOST, tweet, author, reposter, repost_id, message_id=repost_id)
    await settled(kit)

    for user in (reposter, *followers):
        # Newer than `between` (created after the tweet, before the repost): ordered by repost time.
        assert await feed(redis, user) == [entry, between]
    assert await feed(redis, author) == [tweet], "the author's own feed has the original only"


async def test_a_tweet_shows_once_across_its_original_and_two_reposters(kit: Any, redis: Redis) -> None:
    author, first, second, reader_of_all, reader_of_reposters = await kit.insert_users(5)
    await kit.insert_follows(author, [reader_of_all])
    for reposter in (first, second):
        await kit.insert_follows(reposter, [reader_of_all, reader_of_reposters])
    tweet = str(uuid7())
    await kit.publish_tweet(TWEET_CREATE, tweet, author)
    await settled(kit)
    first_repost, second_repost = str(uuid7()), str(uuid7())
    await publish_repost(kit, TWEET_REPOST, tweet, author, first, first_repost)
    await settled(kit)
    await publish_repost(kit, TWEET_REPOST, tweet, author, second, second_repost)
    await settled(kit)

    assert await feed(redis, reader_of_all) == [tweet]
    assert await feed(redis, reader_of_reposters) == [repost_entry(first_repost, tweet, first)]
    assert await feed(redis, second) == [repost_entry(second_repost, tweet, second)]


async def test_unrepost_removes_the_entry_also_when_it_arrives_first(kit: Any, redis: Redis) -> None:
    author, reposter, follower = await kit.insert_users(3)
    await kit.insert_follows(reposter, [follower])
    tweet, other = str(uuid7()), str(uuid7())
    await kit.publish_tweet(TWEET_CREATE, tweet, author)
    await kit.publish_tweet(TWEET_CREATE, other, author)
    await settled(kit)
    in_order, reordered = str(uuid7()), str(uuid7())
    await publish_repost(kit, TWEET_REPOST, tweet, author, reposter, in_order)
    await wait_for(lambda: feed(redis, follower), timeout=30)
    await publish_repost(kit, TWEET_UNREPOST, tweet, author, reposter, in_order)
    # The second repost's pair arrives reversed, and its repost is delivered again afterwards.
    await publish_repost(kit, TWEET_UNREPOST, other, author, reposter, reordered)
    await settled(kit)
    await publish_repost(kit, TWEET_REPOST, other, author, reposter, reordered)
    await publish_repost(kit, TWEET_REPOST, other, author, reposter, reordered)
    await settled(kit)

    assert await feed(redis, follower) == []
    assert await feed(redis, reposter) == []


async def test_deleting_a_reposted_tweet_removes_every_entry(kit: Any, redis: Redis) -> None:
    author, reposter, author_follower, reposter_follower = await kit.insert_users(4)
    await kit.insert_follows(author, [author_follower])
    await kit.insert_follows(reposter, [reposter_follower])
    tweet, kept = str(uuid7()), str(uuid7())
    for created in (tweet, kept):
        await kit.publish_tweet(TWEET_CREATE, created, author)
    await settled(kit)
    await publish_repost(kit, TWEET_REPOST, tweet, author, reposter, str(uuid7()))
    await settled(kit)
    assert len(await feed(redis, reposter_follower)) == 1

    await kit.publish_tweet(TWEET_DELETE, tweet, author)
    await settled(kit)

    assert await feed(redis, author) == [kept]
    assert await feed(redis, author_follower) == [kept]
    assert await feed(redis, reposter) == []
    assert await feed(redis, reposter_follower) == []


async def reposted_tweet(
    kit: Any, redis: Redis, tweets_service: Any
) -> tuple[list[str], dict[str, dict[str, str]], str, str]:
    """(author, reposter, follower), their headers, the author's tweet (through tweets REST) and the
    entry the reposter's repost made in the reposter's own feed."""
    accounts = await kit.insert_users(3)
    author, reposter, _ = accounts
    codec = TokenCodec(kit.settings.jwt)
    headers = {uid: {"Authorization": f"Bearer {codec.issue(uuid.UUID(uid), 'someone')}"} for uid in accounts}
    created = await tweets_service.client.post(
        "/tweet", json={"content": "worth a repost"}, headers=headers[author]
    )
    tweet = created.json()["id"]
    reposted = await tweets_service.client.post(f"/tweet/repost/{tweet}", headers=headers[reposter])
    assert reposted.status_code == 201, reposted.text
    await wait_for(lambda: feed(redis, reposter), timeout=30)
    (entry,) = await feed(redis, reposter)
    return accounts, headers, tweet, entry


async def test_follow_backfills_reposts_and_unfollow_removes_them(
    kit: Any, redis: Redis, users_service: Any, tweets_service: Any
) -> None:
    (_, reposter, follower), headers, tweet, entry = await reposted_tweet(kit, redis, tweets_service)
    assert entry.split(":")[1:] == [tweet, reposter]

    response = await users_service.client.post(f"/users/{reposter}/follow", headers=headers[follower])
    assert response.status_code == 201, response.text
    await wait_for(lambda: _equals(feed(redis, follower), [entry]), timeout=30)

    response = await users_service.client.delete(f"/users/{reposter}/follow", headers=headers[follower])
    assert response.status_code == 204, response.text
    await wait_for(lambda: _equals(feed(redis, follower), []), timeout=30)


async def _equals(actual: Any, expected: list[str]) -> bool:
    return bool(await actual == expected)


async def test_a_tweet_still_followed_another_way_comes_back_when_the_entry_showing_it_goes(
    kit: Any, redis: Redis, users_service: Any, tweets_service: Any
) -> None:
    # A feed shows a tweet once: following the author after their tweet arrived as a repost adds no
    # original, and following the reposter after the original adds no repost entry. Unfollowing the
    # one whose entry is shown must bring back the other.
    (author, reposter, follower), headers, tweet, entry = await reposted_tweet(kit, redis, tweets_service)

    async def follow(user: str, follows: bool) -> None:
        send = users_service.client.post if follows else users_service.client.delete
        response = await send(f"/users/{user}/follow", headers=headers[follower])
        assert response.status_code == (201 if follows else 204), response.text

    await follow(reposter, True)
    await wait_for(lambda: _equals(feed(redis, follower), [entry]), timeout=30)
    await follow(author, True)
    await settled(kit)
    assert await feed(redis, follower) == [entry]
    await follow(reposter, False)
    await wait_for(lambda: _equals(feed(redis, follower), [tweet]), timeout=30)

    await follow(reposter, True)
    await settled(kit)
    assert await feed(redis, follower) == [tweet]
    await follow(author, False)
    await wait_for(lambda: _equals(feed(redis, follower), [entry]), timeout=30)


async def test_a_repost_skips_the_feeds_of_inactive_accounts(kit: Any, redis: Redis) -> None:
    # One server: the repost script reads the owners' last-seen times; a cluster: the worker does.
    author, reposter, active, gone, never_seen = await kit.insert_users(5)
    await kit.insert_follows(reposter, [active, gone, never_seen])
    now = time.time()
    await redis.set(last_seen_key(active), int(now - 3600))
    await redis.set(last_seen_key(gone), int(now - 40 * 86_400))
    tweet, repost_id = str(uuid7()), str(uuid7())
    await kit.publish_tweet(TWEET_CREATE, tweet, author)
    await publish_repost(kit, TWEET_REPOST, tweet, author, reposter, repost_id)
    await settled(kit)

    entry = repost_entry(repost_id, tweet, reposter)
    assert [await feed(redis, user) for user in (active, gone, never_seen)] == [[entry], [], [entry]]
