"""Following and unfollowing over REST: rules, counters and pagination."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from devtools.testing import Account, assert_problem, register_and_login, taken

from .conftest import Crowd


async def _counts(client: httpx.AsyncClient, account: Account) -> tuple[int, int]:
    body = (await client.get(f"/users/{account.id}")).json()
    return body["num_followers"], body["num_following"]


async def test_follow_then_unfollow_updates_both_counters(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    response = await client.post(f"/users/{bob.id}/follow", headers=alice.headers)
    assert response.status_code == 201
    assert await _counts(client, bob) == (1, 0)
    assert await _counts(client, alice) == (0, 1)

    response = await client.delete(f"/users/{bob.id}/follow", headers=alice.headers)
    assert response.status_code == 204 and response.content == b""
    assert await _counts(client, bob) == (0, 0)
    assert await _counts(client, alice) == (0, 0)


async def test_following_twice_is_409_and_counts_once(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    await client.post(f"/users/{bob.id}/follow", headers=alice.headers)
    assert_problem(await client.post(f"/users/{bob.id}/follow", headers=alice.headers), 409)
    assert await _counts(client, bob) == (1, 0)


async def test_self_follow_is_400(client: httpx.AsyncClient, alice: Account) -> None:
    assert_problem(await client.post(f"/users/{alice.id}/follow", headers=alice.headers), 400)
    assert await _counts(client, alice) == (0, 0)


async def test_follow_unknown_user_is_404(client: httpx.AsyncClient, alice: Account) -> None:
    assert_problem(await client.post(f"/users/{uuid.uuid4()}/follow", headers=alice.headers), 404)


async def test_unfollow_when_not_following_is_404(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    assert_problem(await client.delete(f"/users/{bob.id}/follow", headers=alice.headers), 404)


async def test_follow_requires_a_token(client: httpx.AsyncClient, bob: Account) -> None:
    assert_problem(await client.post(f"/users/{bob.id}/follow"), 401)


async def test_fifty_concurrent_follows_leave_exactly_fifty_followers(
    client: httpx.AsyncClient, crowd: Crowd, alice: Account
) -> None:
    fans = await crowd(50)
    responses = await asyncio.gather(
        *(
            taken(lambda fan=fan: client.post(f"/users/{alice.id}/follow", headers=fan.headers))
            for fan in fans
        )
    )
    assert [r.status_code for r in responses] == [201] * 50
    assert await _counts(client, alice) == (50, 0)


async def test_mutual_concurrent_follows_do_not_deadlock(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    first, second = await asyncio.gather(
        client.post(f"/users/{bob.id}/follow", headers=alice.headers),
        client.post(f"/users/{alice.id}/follow", headers=bob.headers),
    )
    assert first.status_code == second.status_code == 201
    assert await _counts(client, alice) == (1, 1)


async def test_followers_and_following_are_paginated(client: httpx.AsyncClient, alice: Account) -> None:
    fans = [await register_and_login(client) for _ in range(5)]
    for fan in fans:
        await client.post(f"/users/{alice.id}/follow", headers=fan.headers)
    first = (await client.get(f"/users/{alice.id}/followers", params={"limit": 2})).json()
    assert first["total"] == 5 and first["limit"] == 2 and first["offset"] == 0 and first["has_more"]
    seen = [u["id"] for u in first["users"]]
    for offset in (2, 4):
        page = (
            await client.get(f"/users/{alice.id}/followers", params={"limit": 2, "offset": offset})
        ).json()
        seen += [u["id"] for u in page["users"]]
    assert not page["has_more"]
    assert sorted(seen) == sorted(str(f.id) for f in fans)
    assert all("email" not in u for u in first["users"])
    following = (await client.get(f"/users/{fans[0].id}/following")).json()
    assert [u["id"] for u in following["users"]] == [str(alice.id)]


async def test_pagination_limits_are_validated(client: httpx.AsyncClient, alice: Account) -> None:
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "many"}):
        assert_problem(await client.get(f"/users/{alice.id}/followers", params=params), 422)
    assert_problem(await client.get(f"/users/{uuid.uuid4()}/followers"), 404)
