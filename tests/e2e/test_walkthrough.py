"""A client's whole journey through the real processes: accounts, follows, tweets, feed, search."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from devtools.testing import Account, assert_problem, register_and_login, wait_for

pytestmark = pytest.mark.e2e
Clients = dict[str, httpx.AsyncClient]


async def post_tweet(http: Clients, author: Account, content: str) -> dict[str, Any]:
    response = await http["tweets"].post("/tweet", json={"content": content}, headers=author.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def feed_ids(http: Clients, reader: Account, **params: Any) -> list[str]:
    response = await http["feed"].get("/feed", params=params, headers=reader.headers)
    assert response.status_code == 200, response.text
    return [tweet["id"] for tweet in response.json()["tweets"]]


async def search_ids(http: Clients, query: str) -> list[str]:
    response = await http["search"].get("/search", params={"q": query})
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["results"]]


async def test_register_login_follow_post_and_read_feed(http: Clients) -> None:
    alice = await register_and_login(http["users"])
    bob = await register_and_login(http["users"])
    assert (await http["users"].post(f"/users/{bob.id}/follow", headers=alice.headers)).status_code == 201

    tweet = await post_tweet(http, bob, "first light over the harbour")
    assert tweet["user_id"] == str(bob.id) and tweet["num_likes"] == 0

    await wait_for(lambda: _contains(feed_ids(http, alice), tweet["id"]), timeout=10)
    await wait_for(lambda: _contains(feed_ids(http, bob), tweet["id"]), timeout=10)
    await wait_for(lambda: _contains(search_ids(http, "harbour"), tweet["id"]), timeout=10)

    async def counted() -> bool:
        return (await http["users"].get(f"/users/{bob.id}")).json()["num_tweets"] == 1

    await wait_for(counted, timeout=10)


async def test_like_repost_reply_edit_and_delete(http: Clients) -> None:
    author = await register_and_login(http["users"])
    fan = await register_and_login(http["users"])
    tweet = await post_tweet(http, author, "a tweet about lighthouses")
    tweet_id = tweet["id"]

    assert (await http["tweets"].post(f"/tweet/like/{tweet_id}", headers=fan.headers)).status_code == 201
    assert_problem(await http["tweets"].post(f"/tweet/like/{tweet_id}", headers=fan.headers), 409)
    assert (await http["tweets"].post(f"/tweet/repost/{tweet_id}", headers=fan.headers)).status_code == 201
    reply = await http["tweets"].post(
        f"/tweet/reply/{tweet_id}", json={"content": "agreed"}, headers=fan.headers
    )
    assert reply.status_code == 201
    current = (await http["tweets"].get(f"/tweet/{tweet_id}")).json()
    assert (current["num_likes"], current["num_reposts"], current["num_replys"]) == (1, 1, 1)
    assert tweet_id in str((await http["tweets"].get("/tweet/like", headers=fan.headers)).json())
    assert tweet_id in str((await http["tweets"].get("/tweet/repost", headers=fan.headers)).json())
    assert "agreed" in str((await http["tweets"].get(f"/tweet/reply/{tweet_id}")).json())

    edited = await http["tweets"].patch(
        f"/tweet/{tweet_id}", json={"content": "a tweet about foghorns"}, headers=author.headers
    )
    assert edited.status_code == 200 and edited.json()["content"] == "a tweet about foghorns"
    await wait_for(lambda: _contains(search_ids(http, "foghorns"), tweet_id), timeout=10)
    await wait_for(lambda: _lacks(search_ids(http, "lighthouses"), tweet_id), timeout=10)

    assert (await http["tweets"].delete(f"/tweet/{tweet_id}", headers=author.headers)).status_code == 204
    assert_problem(await http["tweets"].get(f"/tweet/{tweet_id}"), 404)
    await wait_for(lambda: _lacks(search_ids(http, "foghorns"), tweet_id), timeout=10)
    await wait_for(lambda: _lacks(feed_ids(http, author), tweet_id), timeout=10)


async def test_follow_backfills_and_unfollow_removes(http: Clients) -> None:
    reader = await register_and_login(http["users"])
    writer = await register_and_login(http["users"])
    older = [await post_tweet(http, writer, f"backfill {i}") for i in range(3)]
    assert (await http["users"].post(f"/users/{writer.id}/follow", headers=reader.headers)).status_code == 201

    expected = [t["id"] for t in reversed(older)]

    async def backfilled() -> bool:
        return await feed_ids(http, reader) == expected

    await wait_for(backfilled, timeout=10)
    assert (
        await http["users"].delete(f"/users/{writer.id}/follow", headers=reader.headers)
    ).status_code == 204

    async def removed() -> bool:
        return await feed_ids(http, reader) == []

    await wait_for(removed, timeout=10)


async def test_another_users_objects_cannot_be_changed(http: Clients) -> None:
    owner = await register_and_login(http["users"])
    intruder = await register_and_login(http["users"])
    tweet = await post_tweet(http, owner, "mine alone")
    reply = (
        await http["tweets"].post(
            f"/tweet/reply/{tweet['id']}", json={"content": "my reply"}, headers=owner.headers
        )
    ).json()

    patch = await http["tweets"].patch(
        f"/tweet/{tweet['id']}", json={"content": "hijacked"}, headers=intruder.headers
    )
    assert patch.status_code in (403, 404)
    assert (await http["tweets"].delete(f"/tweet/{tweet['id']}", headers=intruder.headers)).status_code in (
        403,
        404,
    )
    assert (
        await http["tweets"].delete(f"/tweet/reply/{reply['id']}", headers=intruder.headers)
    ).status_code in (
        403,
        404,
    )
    assert (await http["tweets"].get(f"/tweet/{tweet['id']}")).json()["content"] == "mine alone"
    seen = (await http["users"].get(f"/users/{owner.id}", headers=intruder.headers)).json()
    assert "email" not in seen


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoieCJ9."])
async def test_bad_tokens_are_refused_by_every_service(http: Clients, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    assert_problem(await http["users"].get("/users/me", headers=headers), 401)
    assert_problem(await http["tweets"].post("/tweet", json={"content": "x"}, headers=headers), 401)
    assert_problem(await http["feed"].get("/feed", headers=headers), 401)


async def test_every_service_reports_ready_and_serves_openapi(http: Clients) -> None:
    for client in http.values():
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/ready")).status_code == 200
        assert (await client.get("/openapi.json")).json()["openapi"].startswith("3.")


async def test_unknown_ids_are_404_not_500(http: Clients) -> None:
    reader = await register_and_login(http["users"])
    assert_problem(await http["tweets"].get(f"/tweet/{uuid.uuid4()}"), 404)
    assert_problem(await http["tweets"].get("/tweet/not-a-uuid"), 422)
    assert_problem(await http["feed"].get("/feed", params={"limit": 0}, headers=reader.headers), 422)
    assert_problem(await http["search"].get("/search", params={"q": ""}), 422)


async def _contains(ids_coroutine: Any, wanted: str) -> bool:
    return wanted in await ids_coroutine


async def _lacks(ids_coroutine: Any, unwanted: str) -> bool:
    return unwanted not in await ids_coroutine
