"""POST/GET /tweet/reply/{tweet_id} and DELETE /tweet/reply/{reply_id}, with the parent's num_replys."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from devtools.testing import Account, assert_problem

Post = Callable[..., Awaitable[dict[str, Any]]]
REPLY_FIELDS = {"id", "parent_id", "user_id", "content", "created_at", "updated_at", "entities"} | {
    "author",
    "liked_by_me",
    "reposted_by_me",
}


async def _reply(client: httpx.AsyncClient, account: Account, tweet_id: str, content: str) -> dict[str, Any]:
    response = await client.post(
        f"/tweet/reply/{tweet_id}", json={"content": content}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _tweet(client: httpx.AsyncClient, tweet_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/tweet/{tweet_id}")).json()
    return body


async def test_reply_is_201_and_counts_on_the_parent(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post
) -> None:
    tweet = await post(client, alice, "what do you think?")

    reply = await _reply(client, bob, tweet["id"], "I agree")

    assert set(reply) == REPLY_FIELDS
    assert (reply["parent_id"], reply["user_id"], reply["content"]) == (tweet["id"], str(bob.id), "I agree")
    assert (await _tweet(client, tweet["id"]))["num_replys"] == 1


async def test_replies_are_listed_oldest_first_and_paginated(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post
) -> None:
    tweet = await post(client, alice)
    other = await post(client, alice, "another thread")
    replies = [await _reply(client, bob if i % 2 else alice, tweet["id"], f"r{i}") for i in range(5)]
    await _reply(client, bob, other["id"], "elsewhere")

    first = (await client.get(f"/tweet/reply/{tweet['id']}", params={"limit": 3})).json()
    rest = (await client.get(f"/tweet/reply/{tweet['id']}", params={"limit": 3, "offset": 3})).json()

    assert [r["id"] for r in first["replies"] + rest["replies"]] == [r["id"] for r in replies]
    assert (first["total"], first["has_more"], rest["has_more"]) == (5, True, False)
    assert first["replies"][0] == replies[0]


async def test_tweet_without_replies_lists_none(
    client: httpx.AsyncClient, alice: Account, post: Post
) -> None:
    tweet = await post(client, alice)
    page = (await client.get(f"/tweet/reply/{tweet['id']}")).json()
    assert page == {
        "replies": [],
        "total": 0,
        "limit": 20,
        "offset": 0,
        "has_more": False,
        "next_cursor": None,
    }


async def test_replying_to_or_listing_an_unknown_tweet_is_404(
    client: httpx.AsyncClient, alice: Account
) -> None:
    missing = uuid.uuid4()
    assert_problem(
        await client.post(f"/tweet/reply/{missing}", json={"content": "x"}, headers=alice.headers), 404
    )
    assert_problem(await client.get(f"/tweet/reply/{missing}"), 404)


@pytest.mark.parametrize("content", ["", "  ", "a" * 281], ids=["empty", "blank", "281-chars"])
async def test_invalid_reply_content_is_422_and_counts_nothing(
    client: httpx.AsyncClient, alice: Account, post: Post, content: str
) -> None:
    tweet = await post(client, alice)
    response = await client.post(
        f"/tweet/reply/{tweet['id']}", json={"content": content}, headers=alice.headers
    )
    assert_problem(response, 422)
    assert (await _tweet(client, tweet["id"]))["num_replys"] == 0


async def test_malformed_ids_are_422(client: httpx.AsyncClient, alice: Account) -> None:
    assert_problem(await client.post("/tweet/reply/xyz", json={"content": "x"}, headers=alice.headers), 422)
    assert_problem(await client.get("/tweet/reply/xyz"), 422)
    assert_problem(await client.delete("/tweet/reply/xyz", headers=alice.headers), 422)


async def test_deleting_another_users_reply_is_403_and_keeps_it(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post
) -> None:
    tweet = await post(client, alice)
    reply = await _reply(client, bob, tweet["id"], "bob's reply")

    # Not even the author of the tweet may delete someone else's reply.
    assert_problem(await client.delete(f"/tweet/reply/{reply['id']}", headers=alice.headers), 403)

    listed = (await client.get(f"/tweet/reply/{tweet['id']}")).json()["replies"]
    assert listed == [reply]
    assert (await _tweet(client, tweet["id"]))["num_replys"] == 1


async def test_author_deletes_reply_and_the_parent_count_drops(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post
) -> None:
    tweet = await post(client, alice)
    kept = await _reply(client, alice, tweet["id"], "stays")
    gone = await _reply(client, bob, tweet["id"], "goes")

    response = await client.delete(f"/tweet/reply/{gone['id']}", headers=bob.headers)

    assert response.status_code == 204
    listed = (await client.get(f"/tweet/reply/{tweet['id']}")).json()["replies"]
    assert listed == [kept]
    assert (await _tweet(client, tweet["id"]))["num_replys"] == 1
    assert_problem(await client.delete(f"/tweet/reply/{gone['id']}", headers=bob.headers), 404)
    assert (await _tweet(client, tweet["id"]))["num_replys"] == 1
