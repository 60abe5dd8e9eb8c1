"""Hostile or odd input is a client error (4xx problem+json), never a 500: oversized and deeply nested
bodies, 10,000-character fields, malformed ids, unicode edge cases, out-of-range paging. Text that is
valid unicode (RTL, emoji, combining marks) is kept exactly as sent."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from devtools.testing import Account, assert_problem

TWO_MB = 2 * 1024 * 1024
# Unicode a client may send; none of it may become a 500.
STORABLE = {
    "rtl override": "abc \u202edlrow olleh\u202c def",
    "arabic and hebrew": "مرحبا بالعالم שלום עולם",
    "emoji zwj family": "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 and \U0001f3f3\ufe0f\u200d\U0001f308",
    "combining marks": "Z" + "\u0351\u0352\u0357\u0358\u0359\u035a" * 20,
    "zero width": "a\u200bb\u200cc\u200dd\ufeff",
    "astral plane": "\U0010fffd \U0001d54f \U00020000",
    "noncharacters": "\ufffe\uffff",
    # Other control characters are refused (test_control_characters_are_refused_in_...).
    "newlines": "first\nsecond\n\nthird",
}
UNSTORABLE = {
    "NUL": "before\x00after",
    "lone high surrogate": "a\ud800b",
    "lone low surrogate": "a\udfffb",
}
BAD_IDS = ["not-a-uuid", "123", "f" * 36, "%00", "%ED%A0%80", "%F0%9F%92%A5", "'%20OR%201=1--", "0" * 500]
BAD_PAGING = [
    {"limit": -1},
    {"limit": 0},
    {"limit": 101},
    {"limit": 10**30},
    {"limit": "1e3"},
    {"limit": "abc"},
    {"limit": ""},
    {"offset": -1},
    {"offset": 10**30},
    {"offset": "NaN"},
    {"limit": "\x00"},
]


def raw_json(body: Any) -> bytes:
    """JSON with \\u escapes, so lone surrogates can be sent as a real client would send them."""
    return json.dumps(body, ensure_ascii=True).encode()


def assert_client_error(response: httpx.Response, what: str) -> None:
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/problem+json"), what


async def send(
    client: httpx.AsyncClient, method: str, path: str, body: bytes, account: Account
) -> httpx.Response:
    headers = {**account.headers, "content-type": "application/json"}
    return await client.request(method, path, content=body, headers=headers)


@pytest.fixture
async def tweet(tweets: httpx.AsyncClient, alice: Account) -> dict[str, Any]:
    response = await tweets.post("/tweet", json={"content": "a target"}, headers=alice.headers)
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def writes(
    users: httpx.AsyncClient, tweets: httpx.AsyncClient, tweet: dict[str, Any]
) -> list[tuple[httpx.AsyncClient, str, str, dict[str, Any]]]:
    """(client, method, path, a valid body) of every route that takes a JSON body."""
    name = f"n{uuid.uuid4().hex[:10]}"
    return [
        (
            users,
            "POST",
            "/register",
            {"email": f"{name}@example.com", "username": name, "password": "p" * 12},
        ),
        (users, "POST", "/login", {"username": name, "password": "p" * 12}),
        (users, "POST", "/login", {"email": f"{name}@example.com", "password": "p" * 12}),
        (users, "PATCH", "/users/me", {"bio": "bio", "display_name": "name"}),
        (tweets, "POST", "/tweet", {"content": "content"}),
        (tweets, "PATCH", f"/tweet/{tweet['id']}", {"content": "content"}),
        (tweets, "POST", f"/tweet/reply/{tweet['id']}", {"content": "content"}),
    ]


async def test_oversized_and_deeply_nested_bodies_are_4xx(writes: list[Any], alice: Account) -> None:
    for client, method, path, valid in writes:
        field = next(iter(valid))
        bodies = {
            "2 MB string": raw_json({**valid, field: "a" * TWO_MB}),
            "2 MB of keys": raw_json({**valid, **{f"k{n}": n for n in range(TWO_MB // 16)}}),
            "2 MB nested arrays": b'{"content": ' + b"[" * (TWO_MB // 2) + b"]" * (TWO_MB // 2) + b"}",
            "2 MB nested objects": b'{"a":' * (TWO_MB // 5) + b"1" + b"}" * (TWO_MB // 5),
        }
        for name, body in bodies.items():
            assert_client_error(await send(client, method, path, body, alice), f"{method} {path} {name}")


async def test_malformed_bodies_are_4xx(writes: list[Any], alice: Account) -> None:
    malformed = {
        "not json": b"{content: 1",
        "invalid utf-8": b'{"content": "\xff\xfe"}',
        "a list": b'["content"]',
        "a string": b'"content"',
        "null": b"null",
        "empty": b"",
        "NaN": b'{"content": NaN}',
        "wrong types": b'{"content": 42, "bio": [], "email": {}, "username": true, "password": null}',
    }
    for client, method, path, _ in writes:
        for name, body in malformed.items():
            assert_client_error(await send(client, method, path, body, alice), f"{method} {path} {name}")


async def test_ten_thousand_character_fields_are_422(writes: list[Any], alice: Account) -> None:
    for client, method, path, valid in writes:
        for field in valid:
            response = await send(client, method, path, raw_json({**valid, field: "é" * 10_000}), alice)
            if path == "/login" and field == "password":
                # An overlong password is simply wrong (401) or refused (422); it is never hashed.
                assert response.status_code in (401, 422), response.text
                continue
            assert_problem(response, 422)


@pytest.mark.parametrize("text", list(STORABLE.values()), ids=list(STORABLE))
async def test_valid_unicode_is_stored_exactly(
    tweets: httpx.AsyncClient, users: httpx.AsyncClient, alice: Account, text: str
) -> None:
    created = await send(tweets, "POST", "/tweet", raw_json({"content": text}), alice)
    assert created.status_code == 201, created.text
    stored = (await tweets.get(f"/tweet/{created.json()['id']}")).json()["content"]
    assert stored == text.strip()
    # Bidi overrides and line breaks are refused in display names (one line that must not read as
    # another), not in a bio.
    name = "".join(char for char in text[:60] if not 0x202A <= ord(char) <= 0x202E).replace("\n", " ")
    profile = await send(users, "PATCH", "/users/me", raw_json({"bio": text, "display_name": name}), alice)
    assert profile.status_code == 200, profile.text
    assert profile.json()["bio"] == text


@pytest.mark.parametrize("text", list(UNSTORABLE.values()), ids=list(UNSTORABLE))
async def test_nul_and_lone_surrogates_are_422_in_every_text_field(
    writes: list[Any], alice: Account, text: str
) -> None:
    failures = []
    for client, method, path, valid in writes:
        for field in valid:
            # Inside an otherwise valid value (an email keeps its shape), so only the character is wrong.
            value = valid[field][:1] + text + valid[field][1:]
            response = await send(client, method, path, raw_json({**valid, field: value}), alice)
            acceptable: tuple[int, ...] = (401, 422) if path == "/login" else (422,)
            if field == "password":
                # A password is hashed, never stored as text: accepting it is fine, and the user
                # registered with it above may then log in with it.
                acceptable = (200, 201, 401, 422)
            if response.status_code not in acceptable:
                failures.append(f"{method} {path} {field}: {response.status_code} {response.text[:120]}")
    assert not failures, "\n".join(failures)


async def test_unicode_edge_cases_in_query_strings_are_never_5xx(
    search: httpx.AsyncClient, feed: httpx.AsyncClient, alice: Account
) -> None:
    # Lone surrogates cannot be encoded into a URL at all; their percent-encoded bytes are sent below.
    texts = [*STORABLE.values(), UNSTORABLE["NUL"], "%ED%A0%80", "\\", "'\"; DROP TABLE tweets;--"]
    for text in texts:
        for params in ({"q": text}, {"q": "x", "since": text}, {"q": "x", "user_id": text}):
            response = await search.get("/search", params=params)
            assert response.status_code < 500, f"{params!r}: {response.status_code} {response.text[:200]}"
    for raw in ("q=%00", "q=%ED%A0%80", "q=%FF%FE", "q=" + "%F0%9F%92%A5" * 300, "q=x&since=99999-01-01"):
        response = await search.get(f"/search?{raw}")
        assert response.status_code < 500, f"{raw}: {response.status_code} {response.text[:200]}"
    response = await feed.get("/feed?before=%ED%A0%80", headers=alice.headers)
    assert_client_error(response, "feed before")


async def test_malformed_ids_in_paths_are_4xx(
    users: httpx.AsyncClient, tweets: httpx.AsyncClient, alice: Account
) -> None:
    routes = [
        (users, "GET", "/users/{}"),
        (users, "POST", "/users/{}/follow"),
        (users, "DELETE", "/users/{}/follow"),
        (users, "GET", "/users/{}/followers"),
        (tweets, "GET", "/tweet/{}"),
        (tweets, "PATCH", "/tweet/{}"),
        (tweets, "DELETE", "/tweet/{}"),
        (tweets, "GET", "/tweet/user/{}"),
        (tweets, "POST", "/tweet/reply/{}"),
        (tweets, "GET", "/tweet/reply/{}"),
        (tweets, "DELETE", "/tweet/reply/{}"),
        (tweets, "POST", "/tweet/like/{}"),
        (tweets, "DELETE", "/tweet/repost/{}"),
    ]
    for client, method, template in routes:
        for bad in BAD_IDS:
            path = template.format(bad)
            response = await client.request(method, path, json={"content": "x"}, headers=alice.headers)
            assert_client_error(response, f"{method} {path}")
        unknown = template.format(uuid.uuid4())
        response = await client.request(method, unknown, json={"content": "x"}, headers=alice.headers)
        assert response.status_code in (200, 404), f"{method} {unknown}: {response.status_code}"


async def test_out_of_range_paging_is_422(
    users: httpx.AsyncClient,
    tweets: httpx.AsyncClient,
    feed: httpx.AsyncClient,
    search: httpx.AsyncClient,
    alice: Account,
    tweet: dict[str, Any],
) -> None:
    pages = [
        (users, f"/users/{alice.id}/followers", {}),
        (users, f"/users/{alice.id}/following", {}),
        (tweets, f"/tweet/user/{alice.id}", {}),
        (tweets, f"/tweet/reply/{tweet['id']}", {}),
        (tweets, "/tweet/like", {}),
        (tweets, "/tweet/repost", {}),
        (feed, "/feed", {}),
        (search, "/search", {"q": "target"}),
    ]
    for client, path, base in pages:
        for bad in BAD_PAGING:
            response = await client.get(path, params={**base, **bad}, headers=alice.headers)
            assert_problem(response, 422)


@pytest.mark.parametrize("query", ["-foo", "-foo -bar", '-"a phrase"', "-foo or -bar", "the -foo"])
async def test_a_search_made_only_of_negations_is_refused(search: httpx.AsyncClient, query: str) -> None:
    assert_problem(await search.get("/search", params={"q": query}), 422)


async def test_a_search_with_a_wanted_word_and_a_negation_is_fine(search: httpx.AsyncClient) -> None:
    assert (await search.get("/search", params={"q": "hello -foo"})).status_code == 200


@pytest.mark.parametrize(
    "content",
    ["\u200b", "\ufeff", "\u3164", "\u200b\u200d\u2060", " \u3164 \ufeff\n", "\u2800"],
    ids=["zero-width space", "BOM", "Hangul filler", "joiners", "blank mix", "braille blank"],
)
async def test_tweet_content_with_nothing_visible_is_refused(
    tweets: httpx.AsyncClient, alice: Account, content: str
) -> None:
    assert_problem(await tweets.post("/tweet", json={"content": content}, headers=alice.headers), 422)


@pytest.mark.parametrize("char", ["\x07", "\x1b", "\r", "\t", "\x85", "\x9b"])
async def test_control_characters_are_refused_in_content_and_display_names(
    tweets: httpx.AsyncClient, users: httpx.AsyncClient, alice: Account, char: str
) -> None:
    content = {"content": f"hello{char}world"}
    assert_problem(await tweets.post("/tweet", json=content, headers=alice.headers), 422)
    name = {"display_name": f"Al{char}ice"}
    assert_problem(await users.patch("/users/me", json=name, headers=alice.headers), 422)


async def test_newlines_stay_allowed_in_content(tweets: httpx.AsyncClient, alice: Account) -> None:
    response = await tweets.post("/tweet", json={"content": "line one\nline two"}, headers=alice.headers)
    assert response.status_code == 201


@pytest.mark.parametrize("char", ["\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u202a"])
async def test_bidi_overrides_are_refused_in_display_names(
    users: httpx.AsyncClient, alice: Account, char: str
) -> None:
    name = {"display_name": f"admin{char}gpj.exe"}
    assert_problem(await users.patch("/users/me", json=name, headers=alice.headers), 422)
