"""Likes and reposts: once per user, atomic counters under concurrency, the caller's lists, and
the cascade when a tweet is deleted. Likes and reposts behave alike, so most tests run for both."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from devtools.testing import Account, StartedService, assert_problem, taken
from shared.auth import TokenCodec
from shared.ids import uuid7
from shared.settings import Settings

Post = Callable[..., Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Kind:
    path: str  # /tweet/like or /tweet/repost
    counter: str
    list_key: str
    table: str


LIKE = Kind("/tweet/like", "num_likes", "likes", "tweet_like")
REPOST = Kind("/tweet/repost", "num_reposts", "reposts", "tweet_repost")


@pytest.fixture(params=[LIKE, REPOST], ids=["like", "repost"])
def kind(request: pytest.FixtureRequest) -> Kind:
    value: Kind = request.param
    return value


async def _counter(client: httpx.AsyncClient, tweet_id: str, counter: str) -> int:
    return int((await client.get(f"/tweet/{tweet_id}")).json()[counter])


async def test_marking_is_201_and_counts(
    client: httpx.AsyncClient, kind: Kind, alice: Account, bob: Account, post: Post
) -> None:
    tweet = await post(client, alice)

    response = await client.post(f"{kind.path}/{tweet['id']}", headers=bob.headers)

    assert response.status_code == 201, response.text
    mark = response.json()
    assert (mark["user_id"], mark["tweet_id"]) == (str(bob.id), tweet["id"])
    assert mark["tweet"][kind.counter] == 1
    assert await _counter(client, tweet["id"], kind.counter) == 1


async def test_second_mark_is_409_and_counts_once(
    client: httpx.AsyncClient, kind: Kind, alice: Account, bob: Account, post: Post
) -> None:
    tweet = await post(client, alice)
    await client.post(f"{kind.path}/{tweet['id']}", headers=bob.headers)

    assert_problem(await client.post(f"{kind.path}/{tweet['id']}", headers=bob.headers), 409)

    assert await _counter(client, tweet["id"], kind.counter) == 1


async def test_author_may_mark_own_tweet(
    client: httpx.AsyncClient, kind: Kind, alice: Account, post: Post
) -> None:
    tweet = await post(client, alice)
    assert (await client.post(f"{kind.path}/{tweet['id']}", headers=alice.headers)).status_code == 201


async def test_unmarking_is_204_and_uncounts(
    client: httpx.AsyncClient, kind: Kind, alice: Account, bob: Account, post: Post
) -> None:
    tweet = await post(client, alice)
    await client.post(f"{kind.path}/{tweet['id']}", headers=alice.headers)
    await client.post(f"{kind.path}/{tweet['id']}", headers=bob.headers)

    response = await client.delete(f"{kind.path}/{tweet['id']}", headers=bob.headers)

    assert response.status_code == 204
    assert await _counter(client, tweet["id"], kind.counter) == 1
    # Marking again after undoing it is allowed.
    assert (await client.post(f"{kind.path}/{tweet['id']}", headers=bob.headers)).status_code == 201


async def test_unmarking_what_was_not_marked_is_404_and_counts_nothing(
    client: httpx.AsyncClient, kind: Kind, alice: Account, bob: Account, post: Post
) -> None:
    tweet = await post(client, alice)
    await client.post(f"{kind.path}/{tweet['id']}", headers=alice.headers)

    assert_problem(await client.delete(f"{kind.path}/{tweet['id']}", headers=bob.headers), 404)

    assert await _counter(client, tweet["id"], kind.counter) == 1


async def test_marking_an_unknown_tweet_is_404(client: httpx.AsyncClient, kind: Kind, alice: Account) -> None:
    missing = uuid.uuid4()
    assert_problem(await client.post(f"{kind.path}/{missing}", headers=alice.headers), 404)
    assert_problem(await client.delete(f"{kind.path}/{missing}", headers=alice.headers), 404)
    assert_problem(await client.post(f"{kind.path}/not-a-uuid", headers=alice.headers), 422)


async def test_callers_list_has_only_their_marks_most_recent_first(
    client: httpx.AsyncClient, kind: Kind, alice: Account, bob: Account, post: Post
) -> None:
    tweets = [await post(client, alice, f"t{i}") for i in range(3)]
    for tweet in tweets:
        await client.post(f"{kind.path}/{tweet['id']}", headers=bob.headers)
    await client.post(f"{kind.path}/{tweets[0]['id']}", headers=alice.headers)

    first = (await client.get(kind.path, params={"limit": 2}, headers=bob.headers)).json()
    rest = (await client.get(kind.path, params={"limit": 2, "offset": 2}, headers=bob.headers)).json()

    marks = first[kind.list_key] + rest[kind.list_key]
    assert [m["tweet_id"] for m in marks] == [t["id"] for t in reversed(tweets)]
    assert {m["user_id"] for m in marks} == {str(bob.id)}
    assert (first["total"], first["has_more"], rest["has_more"]) == (3, True, False)
    assert marks[-1]["tweet"]["id"] == tweets[0]["id"]
    assert marks[-1]["tweet"][kind.counter] == 2
    assert_problem(await client.get(kind.path, params={"limit": 0}, headers=bob.headers), 422)


def _crowd(settings: Settings, size: int) -> list[Account]:
    """Accounts with tokens issued by the fleet's TokenCodec, exactly as POST /login issues them.

    Registering 50 users through users would spend ~100 deliberately slow password hashes; the
    tweets service only needs a valid token, so the crowd skips the hashing."""
    codec = TokenCodec(settings.jwt)
    crowd = []
    for _ in range(size):
        user_id, username = uuid7(), f"fan{uuid.uuid4().hex[:10]}"
        crowd.append(Account(user_id, username, f"{username}@example.com", codec.issue(user_id, username)))
    return crowd


async def test_concurrent_marks_by_50_users_count_exactly_50(
    client: httpx.AsyncClient, settings: Settings, alice: Account, post: Post
) -> None:
    crowd = _crowd(settings, 50)
    tweet = await post(client, alice, "popular")

    for kind in (LIKE, REPOST):
        responses = await asyncio.gather(
            *(
                taken(
                    lambda fan=fan, path=kind.path: client.post(f"{path}/{tweet['id']}", headers=fan.headers)
                )
                for fan in crowd
            )
        )
        assert [r.status_code for r in responses] == [201] * 50
        assert await _counter(client, tweet["id"], kind.counter) == 50

    # The same like sent twice at once: one of each pair wins, the other is 409.
    other = await post(client, alice, "contested")
    responses = await asyncio.gather(
        *(
            taken(lambda fan=fan: client.post(f"{LIKE.path}/{other['id']}", headers=fan.headers))
            for fan in crowd[:10] * 2
        )
    )
    assert sorted(r.status_code for r in responses) == [201] * 10 + [409] * 10
    assert await _counter(client, other["id"], LIKE.counter) == 10

    # And concurrent unlikes, each sent twice: 25 succeed, 25 find nothing to undo.
    responses = await asyncio.gather(
        *(
            taken(lambda fan=fan: client.delete(f"{LIKE.path}/{tweet['id']}", headers=fan.headers))
            for fan in crowd[:25] * 2
        )
    )
    assert sorted(r.status_code for r in responses) == [204] * 25 + [404] * 25
    assert await _counter(client, tweet["id"], LIKE.counter) == 25


async def test_deleting_a_tweet_deletes_its_likes_reposts_and_replies(
    client: httpx.AsyncClient, tweets_service: StartedService, alice: Account, bob: Account, post: Post
) -> None:
    doomed = await post(client, alice, "doomed")
    kept = await post(client, alice, "kept")
    for tweet in (doomed, kept):
        await client.post(f"/tweet/like/{tweet['id']}", headers=bob.headers)
        await client.post(f"/tweet/repost/{tweet['id']}", headers=bob.headers)
        await client.post(f"/tweet/reply/{tweet['id']}", json={"content": "re"}, headers=bob.headers)

    assert (await client.delete(f"/tweet/{doomed['id']}", headers=alice.headers)).status_code == 204

    for kind in (LIKE, REPOST):
        page = (await client.get(kind.path, headers=bob.headers)).json()
        assert [m["tweet_id"] for m in page[kind.list_key]] == [kept["id"]]
    assert_problem(await client.get(f"/tweet/reply/{doomed['id']}"), 404)
    assert tweets_service.engine is not None
    async with tweets_service.engine.connect() as connection:
        for table, column in (
            ("tweet_like", "tweet_id"),
            ("tweet_repost", "tweet_id"),
            ("reply_tweets", "parent_id"),
        ):
            rows = await connection.execute(text(f"SELECT {column} FROM {table}"))
            assert [str(value) for value in rows.scalars()] == [kept["id"]], table
