"""Feed items a client can draw: author, the caller's like/repost state, reposted_by, blocks and
mutes left out, since_id, next_cursor and Link; one batch of calls per page."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from devtools.testing import TEST_PASSWORD, StartedService, register_and_login, wait_for
from feed import tweetcache, viewers
from feed.authors import AUTHOR_TTL_SECONDS
from feed.items import FeedItems
from feed.pages import FeedPages
from feed.service import FeedService
from feed.tweetcache import TweetCache
from feed.viewers import ViewerCache
from fleet_proto import tweet_service_pb2_grpc, user_service_pb2_grpc
from shared.grpc.channels import open_channel
from shared.settings import Settings


async def read(feed: StartedService, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await feed.client.get("/feed", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def until_ids(
    feed: StartedService, headers: dict[str, str], expected: list[str]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []

    async def arrived() -> bool:
        nonlocal items
        items = (await read(feed, headers, limit=100))["tweets"]
        return [item["id"] for item in items] == expected

    await wait_for(arrived, timeout=30)
    return items


async def test_items_carry_author_viewer_state_and_who_reposted_them(
    people: Any, feed_service: StartedService, users_service: StartedService, tweets_service: StartedService
) -> None:
    author, author_headers = await people.user()
    reposter, reposter_headers = await people.user()
    _, reader_headers = await people.user()
    await people.follow(reader_headers, reposter)
    patched = await users_service.client.patch(
        "/users/me", json={"display_name": "The Author"}, headers=author_headers
    )
    assert patched.status_code == 200, patched.text
    tweet = await people.post(author_headers, "worth passing on")
    liked = await tweets_service.client.post(f"/tweet/like/{tweet['id']}", headers=reader_headers)
    assert liked.status_code == 201
    reposted = await tweets_service.client.post(f"/tweet/repost/{tweet['id']}", headers=reposter_headers)
    assert reposted.status_code == 201

    (item,) = await until_ids(feed_service, reader_headers, [tweet["id"]])
    username = patched.json()["username"]
    assert item["author"] == {"id": author, "username": username, "display_name": "The Author"}
    reposter_name = (await users_service.client.get(f"/users/{reposter}")).json()["username"]
    assert item["reposted_by"] == {"id": reposter, "username": reposter_name}
    assert (item["liked_by_me"], item["reposted_by_me"]) == (True, False)
    assert item["entities"] == {"hashtags": [], "mentions": []}
    (own,) = (await read(feed_service, reposter_headers))["tweets"]
    assert (own["liked_by_me"], own["reposted_by_me"]) == (False, True)
    (original,) = (await read(feed_service, author_headers))["tweets"]
    assert original["reposted_by"] is None


async def test_a_deleted_accounts_reposts_leave_its_followers_feeds_and_originals_come_back(
    people: Any,
    feed_service: StartedService,
    users_service: StartedService,
    tweets_service: StartedService,
    redis: Redis,
) -> None:
    author, author_headers = await people.user()
    reposter = await register_and_login(users_service.client)
    reader, reader_headers = await people.user()
    await people.follow(reader_headers, str(reposter.id))
    own = (
        await tweets_service.client.post("/tweet", json={"content": "mine"}, headers=reader_headers)
    ).json()
    older, *tweets = [await people.post(author_headers, text) for text in ("older", "passed on", "and this")]
    for tweet in tweets:
        answer = await tweets_service.client.post(f"/tweet/repost/{tweet['id']}", headers=reposter.headers)
        assert answer.status_code == 201, answer.text
    await until_ids(feed_service, reader_headers, [tweets[1]["id"], tweets[0]["id"], own["id"]])
    # Following the author now backfills only `older`: the feed shows the other two, as reposts.
    await people.follow(reader_headers, author)
    shown = [tweets[1]["id"], tweets[0]["id"], older["id"], own["id"]]
    await until_ids(feed_service, reader_headers, shown)

    gone = await users_service.client.request(
        "DELETE", "/users/me", json={"password": TEST_PASSWORD}, headers=reposter.headers
    )
    assert gone.status_code == 204, gone.text

    async def originals_back() -> bool:
        items = (await read(feed_service, reader_headers, limit=100))["tweets"]
        return [(item["id"], item["reposted_by"]) for item in items] == [
            (tweet_id, None) for tweet_id in shown
        ]

    # The deletion announced its follows' ends: the reposts left the feed, and the originals of an
    # account the reader follows came back in their place.
    await wait_for(originals_back, timeout=30)
    assert not [entry for entry in await redis.lrange(f"feed:{reader}", 0, -1) if str(reposter.id) in entry]


async def test_since_id_next_cursor_and_link_page_while_tweets_arrive(
    people: Any, feed_service: StartedService
) -> None:
    _, headers = await people.user()
    first = [(await people.post(headers, f"t{i}"))["id"] for i in range(3)]
    await until_ids(feed_service, headers, first[::-1])

    page = await feed_service.client.get("/feed", params={"limit": 2}, headers=headers)
    body = page.json()
    assert [t["id"] for t in body["tweets"]] == [first[2], first[1]]
    assert body["next_cursor"] == first[1]
    assert page.headers["link"] == f'</feed?limit=2&before={first[1]}>; rel="next"'
    last = await feed_service.client.get(
        "/feed", params={"limit": 2, "before": body["next_cursor"]}, headers=headers
    )
    assert [t["id"] for t in last.json()["tweets"]] == [first[0]]
    assert last.json()["next_cursor"] is None and "link" not in last.headers

    newer = [(await people.post(headers, f"n{i}"))["id"] for i in range(3)]
    await until_ids(feed_service, headers, [*newer[::-1], *first[::-1]])
    since = await read(feed_service, headers, since_id=first[2], limit=2)
    assert [t["id"] for t in since["tweets"]] == [newer[2], newer[1]]
    assert [t["id"] for t in (await read(feed_service, headers, since_id=newer[2]))["tweets"]] == []


async def test_blocked_and_muted_accounts_leave_the_feed_also_through_reposts(
    people: Any, feed_service: StartedService, users_service: StartedService, tweets_service: StartedService
) -> None:
    reader, reader_headers = await people.user()
    friend, friend_headers = await people.user()
    muted, muted_headers = await people.user()
    blocked, blocked_headers = await people.user()
    for followed in (friend, muted):
        await people.follow(reader_headers, followed)
    await people.follow(friend_headers, blocked)
    by_muted = await people.post(muted_headers, "muted voice")
    by_blocked = await people.post(blocked_headers, "blocked voice")
    await tweets_service.client.post(f"/tweet/repost/{by_blocked['id']}", headers=friend_headers)
    await until_ids(feed_service, reader_headers, [by_blocked["id"], by_muted["id"]])

    assert (
        await users_service.client.post(f"/users/{muted}/mute", headers=reader_headers)
    ).status_code == 201
    assert (
        await users_service.client.post(f"/users/{reader}/block", headers=blocked_headers)
    ).status_code == 201

    # Hidden sets are cached for a couple of seconds: both go within that time.
    await until_ids(feed_service, reader_headers, [])
    # The muted account's own feed and the friend's are unchanged.
    assert [t["id"] for t in (await read(feed_service, muted_headers))["tweets"]] == [by_muted["id"]]
    friend_feed = [t["id"] for t in (await read(feed_service, friend_headers))["tweets"]]
    assert friend_feed == [by_blocked["id"]]


async def test_a_block_by_the_reader_ends_the_follow_and_cleans_the_stored_feed(
    people: Any, feed_service: StartedService, users_service: StartedService, redis: Redis
) -> None:
    """The other direction: the reader blocks an account it follows. The follow ends (user.unfollow),
    and the feed worker takes the account's tweets out of the stored feed, not only out of reads."""
    reader, reader_headers = await people.user()
    followed, followed_headers = await people.user()
    await people.follow(reader_headers, followed)
    tweet = await people.post(followed_headers, "about to be blocked")
    await until_ids(feed_service, reader_headers, [tweet["id"]])
    assert tweet["id"] in await redis.lrange(f"feed:{reader}", 0, -1)

    blocked = await users_service.client.post(f"/users/{followed}/block", headers=reader_headers)
    assert blocked.status_code == 201, blocked.text

    await until_ids(feed_service, reader_headers, [])

    async def cleaned() -> bool:
        return tweet["id"] not in await redis.lrange(f"feed:{reader}", 0, -1)

    await wait_for(cleaned, timeout=30)
    following = (await users_service.client.get(f"/users/{reader}/following")).json()
    assert following["total"] == 0


class CountingStub:
    """A gRPC stub that counts the calls of each method."""

    def __init__(self, stub: Any, calls: Counter[str]) -> None:
        self._stub = stub
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self._calls[name] += 1
            return await method(*args, **kwargs)

        return call


@pytest.fixture
async def counted_feed(settings: Settings, redis: Redis) -> AsyncIterator[tuple[FeedService, Counter[str]]]:
    calls: Counter[str] = Counter()
    token = settings.internal.service_token
    users = open_channel(settings.userservice.grpc_target, "users", 5, token)
    tweets = open_channel(settings.tweetservice.grpc_target, "tweets", 5, token)
    tweet_stub: Any = CountingStub(tweet_service_pb2_grpc.TweetStub(tweets), calls)
    user_stub: Any = CountingStub(user_service_pb2_grpc.UserStub(users), calls)
    yield (
        FeedService(
            FeedPages(redis),
            TweetCache(redis),
            tweet_stub,
            FeedItems(user_stub, tweet_stub, ViewerCache(redis)),
        ),
        calls,
    )
    await users.close(None)
    await tweets.close(None)


async def test_a_page_is_hydrated_in_one_batch_of_calls(
    people: Any, feed_service: StartedService, redis: Redis, counted_feed: tuple[FeedService, Counter[str]]
) -> None:
    service, calls = counted_feed
    reader, reader_headers = await people.user()
    expected = []
    for _ in range(4):
        author, headers = await people.user()
        await people.follow(reader_headers, author)
        expected[:0] = [(await people.post(headers, "one"))["id"], (await people.post(headers, "two"))["id"]][
            ::-1
        ]
    await until_ids(feed_service, reader_headers, expected)
    await redis.delete(*[tweetcache.tweet_key(tweet_id) for tweet_id in expected])
    await redis.delete(viewers.hidden_key(reader), viewers.state_key(reader))

    page = await service.page(uuid.UUID(reader), limit=20)
    assert len(page.tweets) == 8
    assert calls == {"GetTweets": 1, "GetUsers": 1, "GetViewerState": 1, "GetHiddenUsers": 1}

    calls.clear()
    await service.page(uuid.UUID(reader), limit=20)
    # Warm: tweets, the hidden set and the viewer state from Redis, authors from this process.
    assert calls == {}


async def test_an_authors_new_display_name_shows_in_feed_items_within_seconds(
    people: Any, feed_service: StartedService, users_service: StartedService
) -> None:
    author, author_headers = await people.user()
    _, reader_headers = await people.user()
    await people.follow(reader_headers, author)

    async def rename(name: str) -> None:
        response = await users_service.client.patch(
            "/users/me", json={"display_name": name}, headers=author_headers
        )
        assert response.status_code == 200, response.text

    await rename("Before")
    tweet = await people.post(author_headers, "named")
    (item,) = await until_ids(feed_service, reader_headers, [tweet["id"]])
    assert item["author"]["display_name"] == "Before"  # now cached in the feed process

    await rename("After")

    async def renamed() -> bool:
        (item,) = (await read(feed_service, reader_headers))["tweets"]
        return bool(item["author"]["display_name"] == "After")

    # Authors are cached far longer than this wait (AUTHOR_TTL_SECONDS): the change shows because the
    # user.update event made every feed process drop its copy (worker lag plus one poll a second).
    assert AUTHOR_TTL_SECONDS >= 60
    await wait_for(renamed, timeout=15)


async def test_a_like_or_a_mute_shows_on_the_next_read_though_the_state_is_cached(
    people: Any, feed_service: StartedService, users_service: StartedService, tweets_service: StartedService
) -> None:
    author, author_headers = await people.user()
    _, reader_headers = await people.user()
    await people.follow(reader_headers, author)
    tweet = await people.post(author_headers, "like me")
    (item,) = await until_ids(feed_service, reader_headers, [tweet["id"]])
    assert (item["liked_by_me"], item["reposted_by_me"]) == (False, False)  # now cached

    liked = await tweets_service.client.post(f"/tweet/like/{tweet['id']}", headers=reader_headers)
    assert liked.status_code == 201
    # No wait: tweets dropped the reader's cached state before answering.
    (item,) = (await read(feed_service, reader_headers))["tweets"]
    assert (item["liked_by_me"], item["reposted_by_me"]) == (True, False)
    assert (
        await tweets_service.client.delete(f"/tweet/like/{tweet['id']}", headers=reader_headers)
    ).status_code == 204
    (item,) = (await read(feed_service, reader_headers))["tweets"]
    assert item["liked_by_me"] is False

    muted = await users_service.client.post(f"/users/{author}/mute", headers=reader_headers)
    assert muted.status_code == 201

    async def hidden() -> bool:
        return (await read(feed_service, reader_headers))["tweets"] == []

    # The worker drops the cached hidden set on user.mute: well before the cache's own expiry.
    await wait_for(hidden, timeout=10)
