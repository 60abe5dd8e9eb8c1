"""An email is shown to its owner only; passwords, the JWT secret and tokens never reach the logs,
even with every logger of the in-process services at DEBUG."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import httpx
import pytest

from devtools.fixtures import engine_of, outbox_drained
from devtools.testing import TEST_JWT_SECRET, TEST_PASSWORD, Account, StartedService


async def test_email_is_visible_to_its_owner_only(
    users: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    assert (await users.get("/users/me", headers=alice.headers)).json()["email"] == alice.email
    login = await users.post("/login", json={"username": alice.username, "password": TEST_PASSWORD})
    assert login.json()["user"]["email"] == alice.email

    assert (await users.post(f"/users/{alice.id}/follow", headers=bob.headers)).status_code == 201
    seen_by_others = [
        await users.get(f"/users/{alice.id}", headers=bob.headers),
        await users.get(f"/users/{alice.id}"),
        await users.get(f"/users/{alice.id}/followers"),
        await users.get(f"/users/{bob.id}/following", headers=bob.headers),
    ]
    for response in seen_by_others:
        assert response.status_code == 200, response.text
        assert alice.email not in response.text and '"email"' not in response.text, response.text


async def test_tweets_feeds_and_search_never_carry_an_email(
    tweets: httpx.AsyncClient, feed: httpx.AsyncClient, search: httpx.AsyncClient, alice: Account
) -> None:
    tweet = await tweets.post("/tweet", json={"content": "no email here"}, headers=alice.headers)
    assert tweet.status_code == 201
    tweet_id = tweet.json()["id"]
    assert (await tweets.post(f"/tweet/like/{tweet_id}", headers=alice.headers)).status_code == 201
    responses = [
        tweet,
        await tweets.get(f"/tweet/{tweet_id}"),
        await tweets.get(f"/tweet/user/{alice.id}"),
        await tweets.get("/tweet/like", headers=alice.headers),
        await feed.get("/feed", headers=alice.headers),
        await search.get("/search", params={"q": "email"}),
    ]
    for response in responses:
        assert response.status_code in (200, 201), response.text
        assert alice.email not in response.text and "@example.com" not in response.text


async def test_no_password_secret_or_token_in_debug_logs(
    caplog: pytest.LogCaptureFixture,
    users: httpx.AsyncClient,
    tweets: httpx.AsyncClient,
    feed: httpx.AsyncClient,
    new_account: Callable[[], Awaitable[Account]],
    users_service: StartedService,
    tweets_service: StartedService,
) -> None:
    caplog.set_level(logging.DEBUG)
    account = await new_account()
    wrong = "wrong-password-" + account.username
    issued = [account.token]

    assert (
        await users.post("/login", json={"username": account.username, "password": wrong})
    ).status_code == 401
    assert (await users.post("/login", json={"email": account.email, "password": wrong})).status_code == 401
    again = await users.post("/login", json={"email": account.email, "password": TEST_PASSWORD})
    issued.append(again.json()["access_token"])
    duplicate = {"email": account.email, "username": account.username, "password": TEST_PASSWORD}
    assert (await users.post("/register", json=duplicate)).status_code == 409
    assert (await users.patch("/users/me", json={"bio": "hi"}, headers=account.headers)).status_code == 200
    posted = await tweets.post("/tweet", json={"content": "logged?"}, headers=account.headers)
    assert posted.status_code == 201
    assert (await feed.get("/feed", headers=account.headers)).status_code == 200
    assert (
        await feed.get("/feed", headers={"Authorization": "Bearer " + account.token[:-2]})
    ).status_code == 401
    # The outbox relays' log lines of these writes count too.
    for service in (users_service, tweets_service):
        await outbox_drained(engine_of(service))

    logged = caplog.text
    assert len(caplog.records) > 0
    for name, secret in {
        "the password": TEST_PASSWORD,
        "a wrong password": wrong,
        "the JWT secret": TEST_JWT_SECRET,
        **{f"token {n}": token for n, token in enumerate(issued)},
        "a truncated token": account.token[:-2],
    }.items():
        assert secret not in logged, f"{name} is in the logs"
