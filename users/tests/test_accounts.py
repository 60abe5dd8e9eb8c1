"""Registration, login and profiles over REST."""

from __future__ import annotations

import httpx
import pytest

from devtools.testing import Account, assert_problem


async def test_register_returns_the_new_user_with_email(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/register", json={"email": "Carol@Example.com", "username": "carol", "password": "longenough"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "carol" and body["email"] == "Carol@Example.com"
    assert body["num_tweets"] == body["num_followers"] == body["num_following"] == 0
    assert "password" not in response.text and "password_hash" not in body


@pytest.mark.parametrize(
    "taken",
    [
        {"email": "ALICE@example.com", "username": "other"},
        {"email": "new@example.com", "username": "ALICE"},
    ],
)
async def test_register_rejects_taken_email_or_username_case_insensitively(
    client: httpx.AsyncClient, alice: Account, taken: dict
) -> None:
    response = await client.post("/register", json={**taken, "password": "longenough"})
    assert_problem(response, 409)


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "username": "dave", "password": "longenough"},
        {"email": "dave@example.com", "username": "x", "password": "longenough"},
        {"email": "dave@example.com", "username": "bad name!", "password": "longenough"},
        {"email": "dave@example.com", "username": "dave", "password": "short"},
        {"email": "dave@example.com", "username": "dave"},
        {"email": "dave@example.com", "username": "dave", "password": "longenough", "is_admin": True},
        {"email": "dave@example.com", "username": "d" * 33, "password": "longenough"},
    ],
)
async def test_register_rejects_invalid_input_with_422(client: httpx.AsyncClient, body: dict) -> None:
    assert_problem(await client.post("/register", json=body), 422)


async def test_register_rejects_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422)


async def test_login_by_email_or_username_issues_a_working_token(
    client: httpx.AsyncClient, alice: Account
) -> None:
    for identifier in ({"email": "alice@example.com"}, {"username": "Alice"}):
        response = await client.post("/login", json={**identifier, "password": "hunter2hunter2"})
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 86400
        assert body["user"]["id"] == str(alice.id)
        assert body["token"] == body["access_token"], "the original project's clients read `token`"
        me = await client.get("/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.json()["username"] == "alice"


async def test_login_answers_the_same_401_for_unknown_user_and_wrong_password(
    client: httpx.AsyncClient, alice: Account
) -> None:
    wrong_password = await client.post("/login", json={"username": "alice", "password": "wrong-password"})
    unknown_user = await client.post("/login", json={"username": "nobody", "password": "wrong-password"})
    first, second = assert_problem(wrong_password, 401), assert_problem(unknown_user, 401)
    assert first["detail"] == second["detail"]


async def test_login_without_identifier_is_422(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/login", json={"password": "whatever1"}), 422)


async def test_email_is_shown_only_to_its_owner(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    own = (await client.get("/users/me", headers=alice.headers)).json()
    assert own["email"] == alice.email
    seen_by_bob = await client.get(f"/users/{alice.id}", headers=bob.headers)
    assert seen_by_bob.status_code == 200 and "email" not in seen_by_bob.json()
    anonymous = await client.get(f"/users/{alice.id}")
    assert "email" not in anonymous.json()


async def test_get_unknown_or_malformed_user(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/users/00000000-0000-7000-8000-000000000000"), 404)
    assert_problem(await client.get("/users/not-a-uuid"), 422)


async def test_patch_me_changes_only_the_callers_profile(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    response = await client.patch(
        "/users/me", json={"bio": "hello", "display_name": "Alice A."}, headers=alice.headers
    )
    assert response.status_code == 200
    assert response.json()["bio"] == "hello" and response.json()["display_name"] == "Alice A."
    assert (await client.get(f"/users/{bob.id}")).json()["bio"] == ""
    assert_problem(await client.patch("/users/me", json={"bio": "x" * 281}, headers=alice.headers), 422)
    assert_problem(await client.patch("/users/me", json={"email": "x@y.zz"}, headers=alice.headers), 422)


async def test_unknown_route_is_problem_json(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nope"), 404)


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["dependencies"] == {"postgresql": "ok", "rabbitmq": "ok", "redis": "ok"}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("\u0130van@example.com", "i\u0307van@example.com"),  # dotted capital I vs i + combining dot
        ("stra\u00dfe@example.com", "STRASSE@example.com"),  # ß folds to ss
        ("\uff41nna@example.com", "anna@example.com"),  # full-width a (NFKC)
    ],
)
async def test_emails_that_fold_alike_are_one_account_and_either_form_logs_in(
    client: httpx.AsyncClient, first: str, second: str
) -> None:
    created = await client.post(
        "/register", json={"email": first, "username": "folded", "password": "longenough"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["email"] == first  # shown as entered
    again = await client.post(
        "/register", json={"email": second, "username": "other", "password": "longenough"}
    )
    assert_problem(again, 409)
    for form in (first, second):
        login = await client.post("/login", json={"email": form, "password": "longenough"})
        assert login.status_code == 200, (form, login.text)
