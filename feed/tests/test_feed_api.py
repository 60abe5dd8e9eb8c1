"""GET /feed on the real stack: tweets posted on tweets, fanned out by the worker, read and hydrated."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from devtools.fixtures import TWEET_FIELDS
from devtools.testing import StartedService, wait_for
from feed.feedstore import FeedStore
from shared.ids import uuid7

ITEM_FIELDS = TWEET_FIELDS | {"author", "liked_by_me", "reposted_by_me", "reposted_by", "entities"}


async def feed_ids(feed: StartedService, headers: dict[str, str], **params: Any) -> list[str]:
    response = await feed.client.get("/feed", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [tweet["id"] for tweet in response.json()["tweets"]]


async def post_many(people: Any, headers: dict[str, str], count: int) -> list[str]:
    """`count` tweets, oldest first."""
    return [(await people.post(headers, f"tweet {index}"))["id"] for index in range(count)]


async def wait_for_feed(feed: StartedService, headers: dict[str, str], expected: list[str]) -> None:
    async def arrived() -> bool:
        return await feed_ids(feed, headers, limit=100) == expected

    await wait_for(arrived, timeout=30)


async def test_a_posted_tweet_shows_in_the_authors_and_a_followers_feed(
    people: Any, feed_service: StartedService
) -> None:
    author, author_headers = await people.user()
    _, follower_headers = await people.user()
    await people.follow(follower_headers, author)
    posted = await people.post(author_headers, "hello, followers")

    for headers in (author_headers, follower_headers):
        await wait_for_feed(feed_service, headers, [posted["id"]])
    response = await feed_service.client.get("/feed", headers=follower_headers)
    body = response.json()
    assert (body["total"], body["limit"], body["offset"], body["has_more"]) == (1, 20, 0, False)
    (tweet,) = body["tweets"]
    assert set(tweet) == ITEM_FIELDS
    assert {key: tweet[key] for key in TWEET_FIELDS} == {key: posted[key] for key in TWEET_FIELDS}


async def test_pages_by_offset_go_newest_first(people: Any, feed_service: StartedService) -> None:
    _, headers = await people.user()
    posted = await post_many(people, headers, 25)
    newest_first = list(reversed(posted))
    await wait_for_feed(feed_service, headers, newest_first)

    pages = []
    for offset in (0, 10, 20):
        response = await feed_service.client.get(
            "/feed", params={"limit": 10, "offset": offset}, headers=headers
        )
        body = response.json()
        assert (body["total"], body["offset"], body["has_more"]) == (25, offset, offset < 20)
        # The last entry of the page while there is more: what `before` takes for the next one.
        assert body["next_cursor"] == (body["tweets"][-1]["id"] if offset < 20 else None)
        pages.append([tweet["id"] for tweet in body["tweets"]])
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [tweet for page in pages for tweet in page] == newest_first


async def test_paging_with_before_has_no_duplicates_while_new_tweets_arrive(
    people: Any, feed_service: StartedService
) -> None:
    _, headers = await people.user()
    posted = await post_many(people, headers, 12)
    await wait_for_feed(feed_service, headers, list(reversed(posted)))

    first = await feed_ids(feed_service, headers, limit=5)
    newer = await post_many(people, headers, 3)
    await wait_for_feed(feed_service, headers, list(reversed(posted + newer)))
    # Offset paging now repeats what the new tweets pushed down; `before` does not.
    assert set(await feed_ids(feed_service, headers, limit=5, offset=5)) & set(first)
    second = await feed_ids(feed_service, headers, limit=5, before=first[-1])
    response = await feed_service.client.get(
        "/feed", params={"limit": 5, "before": second[-1]}, headers=headers
    )
    third = [tweet["id"] for tweet in response.json()["tweets"]]
    assert first + second + third == list(reversed(posted))
    assert (response.json()["offset"], response.json()["has_more"]) == (13, False)


async def test_tweets_deleted_since_fan_out_are_left_out(
    people: Any, feed_service: StartedService, redis: Redis
) -> None:
    user, headers = await people.user()
    kept = await post_many(people, headers, 2)
    await wait_for_feed(feed_service, headers, list(reversed(kept)))
    # An id in Redis that tweets no longer has (deleted before the worker removed it).
    ghost = str(uuid7())
    await FeedStore(redis).fan_out(ghost, [user])
    response = await feed_service.client.get("/feed", headers=headers)
    body = response.json()
    assert [tweet["id"] for tweet in body["tweets"]] == list(reversed(kept))
    assert body["total"] == 3


async def test_a_tweet_deleted_on_tweets_leaves_the_feed(people: Any, feed_service: StartedService) -> None:
    _, headers = await people.user()
    kept, deleted = await post_many(people, headers, 2)
    await wait_for_feed(feed_service, headers, [deleted, kept])
    response = await people.tweets.client.delete(f"/tweet/{deleted}", headers=headers)
    assert response.status_code == 204, response.text

    async def only_kept() -> bool:
        body = (await feed_service.client.get("/feed", headers=headers)).json()
        return bool(body["total"] == 1 and [tweet["id"] for tweet in body["tweets"]] == [kept])

    await wait_for(only_kept, timeout=30)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"offset": -1},
        {"before": "not-an-id"},
        {"before": str(uuid7()), "offset": 5},
    ],
)
async def test_bad_paging_is_422(people: Any, feed_service: StartedService, params: dict[str, Any]) -> None:
    _, headers = await people.user()
    response = await feed_service.client.get("/feed", params=params, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("authorization", [None, "Bearer not.a.token", "Basic abc"])
async def test_feed_without_a_valid_token_is_401(
    feed_service: StartedService, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await feed_service.client.get("/feed", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_ready_when_redis_and_tweets_answer(feed_service: StartedService) -> None:
    response = await feed_service.client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json()["dependencies"] == {"redis": "ok", "tweets": "ok"}
