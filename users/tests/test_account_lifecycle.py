"""Logout, password change, account deletion and lookup by username, against the real users
service (PostgreSQL, Redis for the revocation state, RabbitMQ for the outbox)."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
from sqlalchemy import text

from devtools.testing import TEST_JWT_SECRET, TEST_PASSWORD, Account, StartedService, assert_problem
from shared.settings import Settings


async def test_logout_revokes_the_token_used_and_only_it(client: httpx.AsyncClient, alice: Account) -> None:
    other = await client.post("/login", json={"username": "alice", "password": TEST_PASSWORD})
    other_headers = {"Authorization": f"Bearer {other.json()['access_token']}"}

    assert (await client.post("/logout", headers=alice.headers)).status_code == 204

    assert_problem(await client.get("/users/me", headers=alice.headers), 401)
    assert_problem(await client.post("/logout", headers=alice.headers), 401)
    assert (await client.get("/users/me", headers=other_headers)).status_code == 200


async def test_password_change_revokes_every_earlier_token(client: httpx.AsyncClient, alice: Account) -> None:
    second = (await client.post("/login", json={"username": "alice", "password": TEST_PASSWORD})).json()
    body = {"current_password": TEST_PASSWORD, "new_password": "a-new-long-password"}

    assert (await client.post("/users/me/password", json=body, headers=alice.headers)).status_code == 204

    for token in (alice.token, second["access_token"]):
        assert_problem(await client.get("/users/me", headers={"Authorization": f"Bearer {token}"}), 401)
    old = await client.post("/login", json={"username": "alice", "password": TEST_PASSWORD})
    assert_problem(old, 401)
    new = await client.post("/login", json={"username": "alice", "password": "a-new-long-password"})
    assert new.status_code == 200
    fresh = {"Authorization": f"Bearer {new.json()['access_token']}"}
    assert (await client.get("/users/me", headers=fresh)).status_code == 200, "a token issued after works"


async def test_password_change_needs_the_current_password(client: httpx.AsyncClient, alice: Account) -> None:
    body = {"current_password": "not-the-password", "new_password": "a-new-long-password"}
    assert_problem(await client.post("/users/me/password", json=body, headers=alice.headers), 403)
    assert (await client.get("/users/me", headers=alice.headers)).status_code == 200
    weak = {"current_password": TEST_PASSWORD, "new_password": "short"}
    assert_problem(await client.post("/users/me/password", json=weak, headers=alice.headers), 422)


async def test_account_deletion_removes_the_user_and_its_follows_and_corrects_counters(
    client: httpx.AsyncClient, alice: Account, bob: Account, users_service: StartedService
) -> None:
    assert (await client.post(f"/users/{bob.id}/follow", headers=alice.headers)).status_code == 201
    assert (await client.post(f"/users/{alice.id}/follow", headers=bob.headers)).status_code == 201

    wrong = await client.request("DELETE", "/users/me", json={"password": "wrong-one"}, headers=alice.headers)
    assert_problem(wrong, 403)
    deleted = await client.request(
        "DELETE", "/users/me", json={"password": TEST_PASSWORD}, headers=alice.headers
    )
    assert deleted.status_code == 204

    assert_problem(await client.get(f"/users/{alice.id}"), 404)
    assert_problem(await client.get("/users/me", headers=alice.headers), 401)
    assert_problem(await client.post("/login", json={"username": "alice", "password": TEST_PASSWORD}), 401)
    me = (await client.get("/users/me", headers=bob.headers)).json()
    assert me["num_followers"] == 0 and me["num_following"] == 0
    assert users_service.engine is not None
    async with users_service.engine.connect() as connection:
        edges = await connection.execute(
            text("SELECT count(*) FROM follows WHERE follower_id = :id OR following_id = :id"),
            {"id": alice.id},
        )
        assert edges.scalar_one() == 0
        events = await connection.execute(
            text("SELECT count(*) FROM outbox WHERE payload->>'event_type' = 'user.delete'")
        )
        assert events.scalar_one() == 1


async def test_user_by_username(client: httpx.AsyncClient, alice: Account) -> None:
    found = await client.get("/users/by-username/ALICE")
    assert found.status_code == 200
    assert found.json()["id"] == str(alice.id) and "email" not in found.json()
    assert_problem(await client.get("/users/by-username/nobody"), 404)


def _claims(account: Account, **changes: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "user_id": str(account.id),
        "username": account.username,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        "iss": "fleet-users",
        "aud": "fleet",
    }
    return base | changes


async def test_tokens_carry_and_check_audience_issuer_and_lifetime(
    client: httpx.AsyncClient, alice: Account, settings: Settings
) -> None:
    claims = jwt.decode(alice.token, TEST_JWT_SECRET, algorithms=["HS256"], audience="fleet")
    assert claims["iss"] == "fleet-users" and claims["aud"] == "fleet" and claims["jti"]
    assert claims["exp"] - claims["iat"] <= settings.jwt.lifetime_seconds

    async def call(**changes: object) -> httpx.Response:
        token = jwt.encode(_claims(alice, **changes), TEST_JWT_SECRET)
        return await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})

    assert (await call()).status_code == 200, "the hand-made token is otherwise valid"
    assert_problem(await call(aud="another-system"), 401)
    assert_problem(await call(iss="someone-else"), 401)
    now = int(time.time())
    assert_problem(await call(exp=now + settings.jwt.lifetime_seconds + 3600), 401)
