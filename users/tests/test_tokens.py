"""Every way a token can be wrong gets 401 problem+json."""

from __future__ import annotations

import base64
import json
import time
import uuid

import httpx
import jwt
import pytest

from devtools.testing import TEST_JWT_SECRET, Account, assert_problem


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(account: Account, **changes: object) -> dict:
    now = int(time.time())
    claims = {
        "user_id": str(account.id),
        "username": account.username,
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "iss": "fleet-users",
        "aud": "fleet",
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


def bad_tokens(account: Account) -> dict[str, str]:
    good = jwt.encode(_claims(account), TEST_JWT_SECRET, algorithm="HS256")
    header, _payload, signature = good.split(".")
    return {
        "forged signature": jwt.encode(_claims(account), "another-secret-" + "y" * 40, algorithm="HS256"),
        "tampered payload": f"{header}.{_b64(_claims(account, username='mallory'))}.{signature}",
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(account))}.",
        "wrong algorithm": jwt.encode(_claims(account), TEST_JWT_SECRET, algorithm="HS512"),
        "expired": jwt.encode(
            _claims(account, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
            TEST_JWT_SECRET,
            algorithm="HS256",
        ),
        "missing user_id": jwt.encode(_claims(account, user_id=None), TEST_JWT_SECRET, algorithm="HS256"),
        "missing exp": jwt.encode(_claims(account, exp=None), TEST_JWT_SECRET, algorithm="HS256"),
        "user_id not a uuid": jwt.encode(
            _claims(account, user_id="1 OR 1=1"), TEST_JWT_SECRET, algorithm="HS256"
        ),
        "garbage": "not.a.token",
        "empty": "",
    }


async def test_every_bad_token_is_401(client: httpx.AsyncClient, alice: Account) -> None:
    for name, token in bad_tokens(alice).items():
        response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        body = assert_problem(response, 401)
        assert response.headers.get("www-authenticate") == "Bearer", name
        assert body["status"] == 401, name


@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz", "Bearer", "bearer"])
async def test_missing_or_malformed_authorization_header_is_401(
    client: httpx.AsyncClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    assert_problem(await client.get("/users/me", headers=headers), 401)


async def test_valid_token_is_accepted(client: httpx.AsyncClient, alice: Account) -> None:
    token = jwt.encode(_claims(alice), TEST_JWT_SECRET, algorithm="HS256")
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json()["id"] == str(alice.id)
