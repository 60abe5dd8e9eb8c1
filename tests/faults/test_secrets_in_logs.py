"""Nothing secret reaches the real processes' output: not a password, not the JWT secret, not an
issued (or forged) token, not the broker's credentials. The output searched is everything the fleet
printed since it started, so it includes the warnings and errors of the outages the other fault
tests of this package caused."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

import jwt
import pytest

from devtools.testing import TEST_JWT_SECRET, TEST_PASSWORD, assert_problem

if TYPE_CHECKING:
    from tests.faults.conftest import FaultyFleet

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


async def test_no_password_secret_or_token_in_the_fleet_output(fleet: FaultyFleet) -> None:
    author = await fleet.account()
    users, tweets, feed = fleet.http["users"], fleet.http["tweets"], fleet.http["feed"]
    wrong_password = "not-the-password-" + author.username
    assert_problem(
        await users.post("/login", json={"username": author.username, "password": wrong_password}), 401
    )
    assert_problem(await users.post("/login", json={"email": author.email, "password": wrong_password}), 401)
    duplicate = {"email": author.email, "username": author.username, "password": TEST_PASSWORD}
    assert_problem(await users.post("/register", json=duplicate), 409)
    forged = jwt.encode(
        {"user_id": str(author.id), "username": author.username, "exp": 4102444800, "iat": 0}, "x" * 40
    )
    for client, path in ((users, "/users/me"), (feed, "/feed")):
        assert_problem(await client.get(path, headers={"Authorization": f"Bearer {forged}"}), 401)
    assert (await users.get("/users/me", headers=author.headers)).status_code == 200
    await fleet.post(author, "a tweet so the token is used on every service")
    assert (await feed.get("/feed", headers=author.headers)).status_code == 200
    assert (await tweets.get("/tweet/like", headers=author.headers)).status_code == 200

    output = fleet.output()
    amqp = urllib.parse.urlsplit(fleet.amqp_url)
    secrets = {
        "the password": TEST_PASSWORD,
        "a wrong password": wrong_password,
        "the JWT secret": TEST_JWT_SECRET,
        "a forged token": forged,
        "the broker credentials": f"{amqp.username}:{amqp.password}@",
        **{f"{account.username}'s token": account.token for account in fleet.accounts},
    }
    leaked = [name for name, secret in secrets.items() if secret in output]
    assert not leaked, f"found in the logs: {leaked}"
    assert "Bearer " not in output
