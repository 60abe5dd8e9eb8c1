"""Nobody can change or delete another user's tweet, reply, like, repost, follow or profile: the
attempt is answered 403 or 404 (problem+json) and the object is left exactly as it was."""

from __future__ import annotations

from typing import Any

import httpx

from devtools.fixtures import TWEET_FIELDS
from devtools.testing import Account, assert_problem

DENIED = (403, 404)


def assert_denied(response: httpx.Response) -> None:
    assert response.status_code in DENIED, f"{response.status_code}: {response.text}"
    assert_problem(response, response.status_code)


async def create(client: httpx.AsyncClient, path: str, author: Account, content: str) -> dict[str, Any]:
    response = await client.post(path, json={"content": content}, headers=author.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_another_users_tweet_can_be_neither_edited_nor_deleted(
    tweets: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    tweet = await create(tweets, "/tweet", alice, "mine, all mine")

    assert_denied(
        await tweets.patch(f"/tweet/{tweet['id']}", json={"content": "bob was here"}, headers=bob.headers)
    )
    assert_denied(await tweets.delete(f"/tweet/{tweet['id']}", headers=bob.headers))

    # Unchanged: the stored tweet (GET also carries the author and the viewer's state).
    after = (await tweets.get(f"/tweet/{tweet['id']}")).json()
    assert {key: after[key] for key in TWEET_FIELDS} == {key: tweet[key] for key in TWEET_FIELDS}


async def test_another_users_reply_cannot_be_deleted(
    tweets: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    tweet = await create(tweets, "/tweet", bob, "bob's own tweet")
    reply = await create(tweets, f"/tweet/reply/{tweet['id']}", alice, "alice's reply")

    assert_denied(await tweets.delete(f"/tweet/reply/{reply['id']}", headers=bob.headers))
    # Not even the author of the tweet replied to can delete someone else's reply.
    replies = (await tweets.get(f"/tweet/reply/{tweet['id']}")).json()["replies"]
    assert [item["id"] for item in replies] == [reply["id"]]
    assert (await tweets.get(f"/tweet/{tweet['id']}")).json()["num_replys"] == 1


async def test_another_users_like_and_repost_cannot_be_removed(
    tweets: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    tweet = await create(tweets, "/tweet", bob, "like and repost me")
    for kind in ("like", "repost"):
        assert (await tweets.post(f"/tweet/{kind}/{tweet['id']}", headers=alice.headers)).status_code == 201

    for kind in ("like", "repost"):
        # The route acts on the caller's own like: bob has none, so alice's stays.
        assert_denied(await tweets.delete(f"/tweet/{kind}/{tweet['id']}", headers=bob.headers))

    current = (await tweets.get(f"/tweet/{tweet['id']}")).json()
    assert (current["num_likes"], current["num_reposts"]) == (1, 1)
    likes = (await tweets.get("/tweet/like", headers=alice.headers)).json()["likes"]
    reposts = (await tweets.get("/tweet/repost", headers=alice.headers)).json()["reposts"]
    assert [like["tweet_id"] for like in likes] == [tweet["id"]]
    assert [repost["tweet_id"] for repost in reposts] == [tweet["id"]]


async def test_another_users_profile_cannot_be_changed(
    users: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    before = (await users.get("/users/me", headers=alice.headers)).json()

    for method in ("PATCH", "PUT", "DELETE"):
        response = await users.request(
            method, f"/users/{alice.id}", json={"bio": "pwned", "display_name": "pwned"}, headers=bob.headers
        )
        assert response.status_code in (*DENIED, 405), f"{method}: {response.status_code} {response.text}"
    # PATCH /users/me changes the caller and nobody else, whatever the body says.
    smuggled = await users.patch("/users/me", json={"id": str(alice.id), "bio": "pwned"}, headers=bob.headers)
    assert smuggled.status_code == 422, smuggled.text

    assert (await users.get("/users/me", headers=alice.headers)).json() == before


async def test_another_users_follow_cannot_be_removed(
    users: httpx.AsyncClient, alice: Account, bob: Account, new_account: Any
) -> None:
    carol: Account = await new_account()
    assert (await users.post(f"/users/{carol.id}/follow", headers=alice.headers)).status_code == 201

    assert_denied(await users.delete(f"/users/{carol.id}/follow", headers=bob.headers))

    followers = (await users.get(f"/users/{carol.id}/followers")).json()["users"]
    assert [user["id"] for user in followers] == [str(alice.id)]
