"""A blocked account cannot reply to, like or repost the blocker's tweets (403), nor the other way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from devtools.testing import Account, StartedService

Post = Callable[..., Awaitable[dict[str, Any]]]


async def test_a_block_refuses_replies_likes_and_reposts_both_ways(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post, users_service: StartedService
) -> None:
    hers = await post(client, alice, "alice speaks")
    his = await post(client, bob, "bob speaks")
    assert (
        await users_service.client.post(f"/users/{bob.id}/block", headers=alice.headers)
    ).status_code == 201
    try:
        for actor, tweet in ((bob, hers), (alice, his)):
            refused = [
                await client.post(
                    f"/tweet/reply/{tweet['id']}", json={"content": "hey"}, headers=actor.headers
                ),
                await client.post(f"/tweet/like/{tweet['id']}", headers=actor.headers),
                await client.post(f"/tweet/repost/{tweet['id']}", headers=actor.headers),
            ]
            assert [r.status_code for r in refused] == [403, 403, 403], [r.text for r in refused]
        shown = (await client.get(f"/tweet/{hers['id']}")).json()
        assert (shown["num_likes"], shown["num_replys"], shown["num_reposts"]) == (0, 0, 0), "nothing moved"
    finally:
        await users_service.client.delete(f"/users/{bob.id}/block", headers=alice.headers)
    assert (await client.post(f"/tweet/like/{hers['id']}", headers=bob.headers)).status_code == 201
