"""Every authenticated route of every service answers 401 problem+json (with WWW-Authenticate) to a
token that is forged, unsigned (alg=none), expired, signed with another algorithm, missing a claim,
or not a token at all. search has no authenticated route: its reads are public."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest

from devtools.testing import TEST_JWT_SECRET, Account, assert_problem

# The HS512/HS384 tokens reuse the HS256 secret on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
NOW = int(time.time())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(
    header: dict[str, Any], payload: dict[str, Any], key: bytes, digest: Any = hashlib.sha256
) -> str:
    """A JWT assembled by hand, for headers PyJWT refuses to write (alg=none, a lying alg)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), digest).digest() if key else b""
    return f"{signing_input}.{_b64(signature)}"


def claims(user: Account, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "user_id": str(user.id),
        "username": user.username,
        "iat": NOW,
        "exp": NOW + 3600,
        "jti": uuid.uuid4().hex,
        "iss": "fleet-users",
        "aud": "fleet",
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def bad_tokens(user: Account) -> dict[str, str]:
    secret = TEST_JWT_SECRET.encode()
    without = {claim: jwt.encode(claims(user, **{claim: None}), TEST_JWT_SECRET) for claim in claims(user)}
    return {
        "forged signature": jwt.encode(claims(user), "another-secret-of-forty-characters-long!!"),
        "tampered payload": _swap_payload(user.token, claims(user, user_id=str(uuid.uuid4()))),
        "alg none": hand_signed({"alg": "none", "typ": "JWT"}, claims(user), b""),
        "alg None spelled oddly": hand_signed({"alg": "nOnE", "typ": "JWT"}, claims(user), b""),
        "expired": jwt.encode(claims(user, iat=NOW - 7200, exp=NOW - 3600), TEST_JWT_SECRET),
        "HS512 instead of HS256": jwt.encode(claims(user), TEST_JWT_SECRET, algorithm="HS512"),
        "HS384 instead of HS256": jwt.encode(claims(user), TEST_JWT_SECRET, algorithm="HS384"),
        "RS256 header on an HMAC": hand_signed({"alg": "RS256", "typ": "JWT"}, claims(user), secret),
        **{f"no {claim}": token for claim, token in without.items()},
        "user_id not a uuid": jwt.encode(claims(user, user_id="1 OR 1=1"), TEST_JWT_SECRET),
        "user_id a number": jwt.encode(claims(user, user_id=42), TEST_JWT_SECRET),
        "exp not a number": jwt.encode(claims(user, exp="tomorrow"), TEST_JWT_SECRET),
        "another audience": jwt.encode(claims(user, aud="another-system"), TEST_JWT_SECRET),
        "another issuer": jwt.encode(claims(user, iss="another-issuer"), TEST_JWT_SECRET),
        "longer than the lifetime": jwt.encode(claims(user, exp=NOW + 10 * 86400), TEST_JWT_SECRET),
        "jti not a string": jwt.encode(claims(user, jti=7), TEST_JWT_SECRET),
        "garbage": "garbage",
        "three dots": "a.b.c",
        "empty segments": "..",
        "huge": "x" * 20_000,
        "the signature alone": user.token.rsplit(".", 1)[1],
    }


def _swap_payload(token: str, payload: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{_b64(json.dumps(payload).encode())}.{signature}"


def authenticated_routes(tweet_id: str, user_id: str) -> dict[str, list[tuple[str, str, Any]]]:
    """Per service: (method, path, JSON body) of routes that need a token."""
    return {
        "users": [
            ("GET", "/users/me", None),
            ("PATCH", "/users/me", {"bio": "x"}),
            ("POST", f"/users/{user_id}/follow", None),
            ("DELETE", f"/users/{user_id}/follow", None),
        ],
        "tweets": [
            ("POST", "/tweet", {"content": "x"}),
            ("PATCH", f"/tweet/{tweet_id}", {"content": "x"}),
            ("DELETE", f"/tweet/{tweet_id}", None),
            ("POST", f"/tweet/like/{tweet_id}", None),
            ("GET", "/tweet/like", None),
            ("POST", f"/tweet/repost/{tweet_id}", None),
            ("GET", "/tweet/repost", None),
            ("POST", f"/tweet/reply/{tweet_id}", {"content": "x"}),
        ],
        "feed": [("GET", "/feed", None)],
    }


@pytest.fixture
async def target(tweets: httpx.AsyncClient, bob: Account) -> tuple[str, str]:
    """A real tweet and a real user, so a route that let the token through would succeed."""
    response = await tweets.post("/tweet", json={"content": "target"}, headers=bob.headers)
    assert response.status_code == 201
    return response.json()["id"], str(bob.id)


async def test_bad_tokens_are_401_on_every_authenticated_route(
    clients: dict[str, httpx.AsyncClient], alice: Account, target: tuple[str, str]
) -> None:
    failures = []
    for service, routes in authenticated_routes(*target).items():
        for method, path, body in routes:
            for name, token in bad_tokens(alice).items():
                response = await clients[service].request(
                    method, path, json=body, headers={"Authorization": f"Bearer {token}"}
                )
                if response.status_code != 401 or response.headers.get("www-authenticate") != "Bearer":
                    failures.append(f"{service} {method} {path} with {name}: {response.status_code}")
                else:
                    assert_problem(response, 401)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer", "Bearer a b"],
    ids=[
        "absent",
        "empty",
        "scheme only",
        "scheme and space",
        "basic",
        "other scheme",
        "lowercase",
        "two parts",
    ],
)
async def test_missing_or_malformed_authorization_header_is_401(
    clients: dict[str, httpx.AsyncClient], target: tuple[str, str], authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for service, routes in authenticated_routes(*target).items():
        for method, path, body in routes:
            response = await clients[service].request(method, path, json=body, headers=headers)
            assert_problem(response, 401)


async def test_the_real_token_still_works_and_the_bad_ones_changed_nothing(
    clients: dict[str, httpx.AsyncClient], alice: Account, bob: Account, target: tuple[str, str]
) -> None:
    tweet_id, _ = target
    for name, token in bad_tokens(alice).items():
        await clients["tweets"].delete(f"/tweet/{tweet_id}", headers={"Authorization": f"Bearer {token}"})
        await clients["users"].patch(
            "/users/me", json={"bio": name}, headers={"Authorization": f"Bearer {token}"}
        )
    assert (await clients["tweets"].get(f"/tweet/{tweet_id}")).status_code == 200
    me = await clients["users"].get("/users/me", headers=alice.headers)
    assert me.status_code == 200 and me.json()["bio"] == ""
    assert (await clients["feed"].get("/feed", headers=bob.headers)).status_code == 200


async def test_search_needs_no_token_and_ignores_a_bad_one(search: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer garbage"}):
        assert (await search.get("/search", params={"q": "anything"}, headers=headers)).status_code == 200
