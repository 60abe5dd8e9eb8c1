"""POST/GET/PATCH/DELETE /tweet and GET /tweet/user/{user_id}: behaviour and every failure."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from devtools.fixtures import TWEET_FIELDS, AccountFactory
from devtools.testing import Account, assert_problem, wait_for
from fleet_proto import user_service_pb2 as users_pb
from fleet_proto import user_service_pb2_grpc

Post = Callable[..., Awaitable[dict[str, Any]]]


async def test_create_tweet_returns_201_and_the_tweet(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.post("/tweet", json={"content": "first!"}, headers=alice.headers)

    assert response.status_code == 201, response.text
    tweet = response.json()
    assert set(tweet) == TWEET_FIELDS | {"author", "liked_by_me", "reposted_by_me"}
    assert tweet["user_id"] == tweet["author"]["id"] == str(alice.id)
    assert (tweet["liked_by_me"], tweet["reposted_by_me"]) == (False, False)
    assert tweet["content"] == "first!"
    assert (tweet["num_likes"], tweet["num_replys"], tweet["num_reposts"]) == (0, 0, 0)
    assert uuid.UUID(tweet["id"]).version == 7
    assert tweet["created_at"] == tweet["updated_at"]


async def test_get_tweet_returns_it_without_a_token(
    client: httpx.AsyncClient, alice: Account, post: Post
) -> None:
    tweet = await post(client, alice, "readable by anyone")

    response = await client.get(f"/tweet/{tweet['id']}")

    assert response.status_code == 200
    assert response.json() == tweet


async def test_unknown_tweet_is_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(f"/tweet/{uuid.uuid4()}"), 404)


async def test_malformed_tweet_id_is_422_problem(client: httpx.AsyncClient, alice: Account) -> None:
    assert_problem(await client.get("/tweet/not-a-uuid"), 422)
    assert_problem(await client.patch("/tweet/123", json={"content": "x"}, headers=alice.headers), 422)
    assert_problem(await client.delete("/tweet/123", headers=alice.headers), 422)


@pytest.mark.parametrize(
    "body",
    [
        {"content": ""},
        {"content": "   \n\t "},
        {"content": "a" * 281},
        {"content": "nul \x00 byte"},
        {"content": 42},
        {},
        {"content": "ok", "user_id": str(uuid.uuid4())},
    ],
    ids=["empty", "blank", "281-chars", "nul", "not-a-string", "missing", "extra-field"],
)
async def test_invalid_content_is_422_problem(
    client: httpx.AsyncClient, alice: Account, body: dict[str, Any]
) -> None:
    assert_problem(await client.post("/tweet", json=body, headers=alice.headers), 422)


async def test_content_with_a_lone_surrogate_is_422(client: httpx.AsyncClient, alice: Account) -> None:
    raw = b'{"content": "broken \\ud800 text"}'
    response = await client.post(
        "/tweet", content=raw, headers=alice.headers | {"content-type": "application/json"}
    )
    assert_problem(response, 422)


async def test_content_of_exactly_280_characters_is_accepted(
    client: httpx.AsyncClient, alice: Account
) -> None:
    content = "é" * 280  # characters, not bytes
    response = await client.post("/tweet", json={"content": content}, headers=alice.headers)
    assert response.status_code == 201
    assert response.json()["content"] == content


async def test_invalid_body_is_422_also_on_update(
    client: httpx.AsyncClient, alice: Account, post: Post
) -> None:
    tweet = await post(client, alice)
    for body in ({"content": ""}, {"content": "b" * 281}):
        assert_problem(await client.patch(f"/tweet/{tweet['id']}", json=body, headers=alice.headers), 422)
    assert (await client.get(f"/tweet/{tweet['id']}")).json()["content"] == tweet["content"]


async def test_author_updates_content_and_updated_at(
    client: httpx.AsyncClient, alice: Account, post: Post
) -> None:
    tweet = await post(client, alice, "draft")

    response = await client.patch(f"/tweet/{tweet['id']}", json={"content": "final"}, headers=alice.headers)

    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["content"] == "final"
    assert updated["created_at"] == tweet["created_at"]
    assert datetime.fromisoformat(updated["updated_at"]) >= datetime.fromisoformat(tweet["updated_at"])
    assert (await client.get(f"/tweet/{tweet['id']}")).json() == updated


async def test_updating_another_users_tweet_is_403_and_changes_nothing(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post
) -> None:
    tweet = await post(client, alice, "mine")

    response = await client.patch(f"/tweet/{tweet['id']}", json={"content": "hijacked"}, headers=bob.headers)

    assert_problem(response, 403)
    assert (await client.get(f"/tweet/{tweet['id']}")).json() == tweet


async def test_deleting_another_users_tweet_is_403_and_keeps_it(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post
) -> None:
    tweet = await post(client, alice, "mine")

    assert_problem(await client.delete(f"/tweet/{tweet['id']}", headers=bob.headers), 403)
    assert (await client.get(f"/tweet/{tweet['id']}")).json() == tweet


async def test_author_deletes_tweet_then_it_is_gone(
    client: httpx.AsyncClient, alice: Account, post: Post
) -> None:
    tweet = await post(client, alice)

    response = await client.delete(f"/tweet/{tweet['id']}", headers=alice.headers)

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get(f"/tweet/{tweet['id']}"), 404)
    assert_problem(await client.delete(f"/tweet/{tweet['id']}", headers=alice.headers), 404)


async def test_changing_an_unknown_tweet_is_404(client: httpx.AsyncClient, alice: Account) -> None:
    missing = uuid.uuid4()
    assert_problem(await client.patch(f"/tweet/{missing}", json={"content": "x"}, headers=alice.headers), 404)
    assert_problem(await client.delete(f"/tweet/{missing}", headers=alice.headers), 404)


WRITES = [
    ("POST", "/tweet", {"content": "x"}),
    ("PATCH", "/tweet/{id}", {"content": "x"}),
    ("DELETE", "/tweet/{id}", None),
    ("POST", "/tweet/reply/{id}", {"content": "x"}),
    ("DELETE", "/tweet/reply/{id}", None),
    ("POST", "/tweet/like/{id}", None),
    ("DELETE", "/tweet/like/{id}", None),
    ("GET", "/tweet/like", None),
    ("POST", "/tweet/repost/{id}", None),
    ("DELETE", "/tweet/repost/{id}", None),
    ("GET", "/tweet/repost", None),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
async def test_writes_and_own_lists_without_a_valid_token_are_401(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    url = path.format(id=uuid.uuid4())
    for authorization in (None, "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"):
        headers = {"Authorization": authorization} if authorization else {}
        response = await client.request(method, url, json=body, headers=headers)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"


async def test_unauthenticated_writes_leave_the_tweet_unchanged(
    client: httpx.AsyncClient, alice: Account, post: Post
) -> None:
    tweet = await post(client, alice, "untouched")
    for method, path, body in WRITES:
        await client.request(method, path.format(id=tweet["id"]), json=body)
    assert (await client.get(f"/tweet/{tweet['id']}")).json() == tweet
    assert (await _user_page(client, alice.id))["total"] == 1


async def test_forged_token_is_401(client: httpx.AsyncClient, alice: Account) -> None:
    header, payload, _ = alice.token.split(".")
    forged = f"{header}.{payload}.c2lnbmF0dXJl"
    response = await client.post(
        "/tweet", json={"content": "x"}, headers={"Authorization": f"Bearer {forged}"}
    )
    assert_problem(response, 401)


# A user's tweets


async def _user_page(client: httpx.AsyncClient, user_id: uuid.UUID, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/tweet/user/{user_id}", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_user_tweets_are_newest_first_and_paginated(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post
) -> None:
    mine = [await post(client, alice, f"tweet {i}") for i in range(5)]
    await post(client, bob, "not alice's")

    first = await _user_page(client, alice.id, limit=2)
    second = await _user_page(client, alice.id, limit=2, offset=2)
    last = await _user_page(client, alice.id, limit=2, offset=4)

    newest_first = [t["id"] for t in reversed(mine)]
    assert [t["id"] for t in first["tweets"] + second["tweets"] + last["tweets"]] == newest_first
    assert (first["total"], first["limit"], first["offset"], first["has_more"]) == (5, 2, 0, True)
    assert (last["offset"], last["has_more"], len(last["tweets"])) == (4, False, 1)
    assert first["tweets"][0] == mine[-1]


async def test_user_tweets_before_pages_without_duplicates_while_new_tweets_arrive(
    client: httpx.AsyncClient, alice: Account, post: Post
) -> None:
    older = [await post(client, alice, f"old {i}") for i in range(4)]
    first = await _user_page(client, alice.id, limit=2)
    await post(client, alice, "arrives between pages")

    second = await _user_page(client, alice.id, limit=2, before=first["next_cursor"])

    assert first["next_cursor"] == first["tweets"][-1]["id"]
    assert [t["id"] for t in first["tweets"] + second["tweets"]] == [t["id"] for t in reversed(older)]
    assert (second["total"], second["has_more"], second["next_cursor"]) == (2, False, None)


async def test_user_with_no_tweets_has_an_empty_page(client: httpx.AsyncClient) -> None:
    page = await _user_page(client, uuid.uuid4())
    assert page == {
        "tweets": [],
        "total": 0,
        "limit": 20,
        "offset": 0,
        "has_more": False,
        "next_cursor": None,
    }


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"offset": -1}, {"before": "nope"}],
    ids=["limit-0", "limit-101", "limit-nan", "offset-negative", "before-malformed"],
)
async def test_bad_paging_parameters_are_422(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    assert_problem(await client.get(f"/tweet/user/{uuid.uuid4()}", params=params), 422)
    assert_problem(await client.get("/tweet/user/not-a-uuid"), 422)


# The author's counter in users


async def _num_tweets(users: user_service_pb2_grpc.UserAsyncStub, account: Account) -> int:
    reply = await users.GetUser(users_pb.GetUserRequest(user_id=str(account.id)), timeout=2)
    return int(reply.num_tweets)


async def test_creating_and_deleting_tweets_moves_the_authors_num_tweets(
    client: httpx.AsyncClient,
    accounts: AccountFactory,
    post: Post,
    users_grpc: user_service_pb2_grpc.UserAsyncStub,
) -> None:
    alice = await accounts()  # a fresh account: its counter starts at zero
    tweets = [await post(client, alice, f"t{i}") for i in range(3)]
    await wait_for(lambda: _counted(users_grpc, alice, 3))

    await client.delete(f"/tweet/{tweets[0]['id']}", headers=alice.headers)

    await wait_for(lambda: _counted(users_grpc, alice, 2))


async def _counted(users: user_service_pb2_grpc.UserAsyncStub, account: Account, expected: int) -> bool:
    return await _num_tweets(users, account) == expected


async def test_the_counter_change_reaches_users_in_the_trace_of_the_post(
    client: httpx.AsyncClient,
    accounts: AccountFactory,
    users_grpc: user_service_pb2_grpc.UserAsyncStub,
    finished_spans: InMemorySpanExporter,
) -> None:
    alice = await accounts()
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"

    await client.post(
        "/tweet", json={"content": "traced"}, headers=alice.headers | {"traceparent": traceparent}
    )
    await wait_for(lambda: _counted(users_grpc, alice, 1))

    def users_server_span_in_trace() -> bool:
        return any(
            "IncrementTweets" in span.name
            and span.kind == SpanKind.SERVER
            and span.context is not None
            and span.context.trace_id == int(trace_id, 16)
            for span in finished_spans.get_finished_spans()
        )

    await wait_for(users_server_span_in_trace)
