"""Logout, password change and account deletion hold in every service, not only in users: the
revocation state is shared through Redis (each process reads a copy, refreshed every second), and
a deleted account's tweets, replies, likes and reposts are deleted by tweets on `user.delete`."""

from __future__ import annotations

import time

import httpx
from sqlalchemy import text

from devtools.testing import TEST_PASSWORD, Account, StartedService, wait_for

# A revocation made in users reaches the other processes within this (the poll is every second).
STALENESS = 2.5


async def refused_everywhere(clients: dict[str, httpx.AsyncClient], account: Account) -> float:
    """Seconds until the token is 401 on tweets and feed (fails the test past STALENESS)."""
    started = time.monotonic()

    async def refused() -> bool:
        answers = [
            await clients["tweets"].get("/tweet/like", headers=account.headers),
            await clients["feed"].get("/feed", headers=account.headers),
        ]
        return all(answer.status_code == 401 for answer in answers)

    await wait_for(refused, timeout=STALENESS, interval=0.1)
    return time.monotonic() - started


async def test_logout_reaches_every_service(clients: dict[str, httpx.AsyncClient], alice: Account) -> None:
    assert (await clients["feed"].get("/feed", headers=alice.headers)).status_code == 200
    assert (await clients["users"].post("/logout", headers=alice.headers)).status_code == 204
    await refused_everywhere(clients, alice)


async def test_password_change_reaches_every_service(
    clients: dict[str, httpx.AsyncClient], alice: Account
) -> None:
    body = {"current_password": TEST_PASSWORD, "new_password": "another-long-password"}
    response = await clients["users"].post("/users/me/password", json=body, headers=alice.headers)
    assert response.status_code == 204
    await refused_everywhere(clients, alice)


async def test_a_deleted_account_loses_its_tokens_tweets_likes_and_replies(
    clients: dict[str, httpx.AsyncClient], alice: Account, bob: Account, tweets_service: StartedService
) -> None:
    tweets = clients["tweets"]
    own = [
        (await tweets.post("/tweet", json={"content": f"mine {n}"}, headers=alice.headers)).json()["id"]
        for n in range(3)
    ]
    bobs = (await tweets.post("/tweet", json={"content": "bob's"}, headers=bob.headers)).json()["id"]
    for path in (f"/tweet/like/{bobs}", f"/tweet/repost/{bobs}"):
        assert (await tweets.post(path, headers=alice.headers)).status_code == 201
    reply = await tweets.post(f"/tweet/reply/{bobs}", json={"content": "a reply"}, headers=alice.headers)
    assert reply.status_code == 201
    counts = (await tweets.get(f"/tweet/{bobs}")).json()
    assert (counts["num_likes"], counts["num_reposts"], counts["num_replys"]) == (1, 1, 1)

    deleted = await clients["users"].request(
        "DELETE", "/users/me", json={"password": TEST_PASSWORD}, headers=alice.headers
    )
    assert deleted.status_code == 204
    await refused_everywhere(clients, alice)

    async def gone() -> bool:
        answers = [await tweets.get(f"/tweet/{tweet_id}") for tweet_id in own]
        return all(answer.status_code == 404 for answer in answers)

    await wait_for(gone, timeout=15)
    counts = (await tweets.get(f"/tweet/{bobs}")).json()
    assert (counts["num_likes"], counts["num_reposts"], counts["num_replys"]) == (0, 0, 0)
    assert (await tweets.get(f"/tweet/reply/{bobs}")).json()["total"] == 0
    # Each deleted tweet announced itself, so it leaves feeds and the search index.
    assert tweets_service.engine is not None
    async with tweets_service.engine.connect() as connection:
        announced = await connection.execute(
            text(
                "SELECT payload->>'tweet_id' FROM outbox"
                " WHERE payload->>'event_type' = 'tweet.delete' AND payload->>'user_id' = :author"
            ),
            {"author": str(alice.id)},
        )
        assert set(announced.scalars()) == set(own)
