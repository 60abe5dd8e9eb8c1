"""A follow and a block between the same two accounts, committing at the same time: whichever
commits first, no follow outlives the block (in either direction)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from devtools.testing import Account, StartedService, register_and_login, wait_for

from .conftest import Crowd

# Follows whose two accounts have a block between them, either way.
_FOLLOWS_ACROSS_A_BLOCK = text(
    "SELECT count(*) FROM follows f JOIN blocks b"
    " ON (b.user_id = f.follower_id AND b.target_id = f.following_id)"
    " OR (b.user_id = f.following_id AND b.target_id = f.follower_id)"
)
# Backends of this database waiting for a lock, by the kind of lock.
_WAITING = text(
    "SELECT wait_event FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
)
PAIRS_PER_ROUND = 6


async def _waiting(connection: AsyncConnection) -> set[str]:
    return set((await connection.execute(_WAITING)).scalars())


@pytest.mark.parametrize("blocker", ["followed", "follower"])
async def test_a_block_committing_while_a_follow_is_held_up_leaves_no_follow(
    client: httpx.AsyncClient, users_service: StartedService, alice: Account, bob: Account, blocker: str
) -> None:
    """The follow has passed its block check and inserted its edge, and is held up before its
    commit (a test transaction holds the accounts' rows, which the follow's counters need); the
    block starts then. Without a lock on the pair, the block would find no follow to remove and
    commit, and the follow would commit after it."""
    blocking, blocked = (bob, alice) if blocker == "followed" else (alice, bob)
    assert users_service.engine is not None
    async with users_service.engine.connect() as holder, users_service.engine.connect() as observer:
        await observer.execution_options(isolation_level="AUTOCOMMIT")
        transaction = await holder.begin()
        await holder.execute(
            text("SELECT 1 FROM actors WHERE id IN (:a, :b) FOR UPDATE"), {"a": alice.id, "b": bob.id}
        )
        follow = asyncio.create_task(client.post(f"/users/{bob.id}/follow", headers=alice.headers))
        await wait_for(lambda: _waiting(observer))  # the follow waits for the held rows
        block = asyncio.create_task(client.post(f"/users/{blocked.id}/block", headers=blocking.headers))
        # Either the block is through (the race as it was) or it waits for the follow's transaction.
        await wait_for(lambda: block.done() or _waiting_for_the_pair(observer))
        await transaction.rollback()
        followed, blocked_answer = await asyncio.gather(follow, block)

    assert (followed.status_code, blocked_answer.status_code) == (201, 201)
    for account in (alice, bob):
        me = (await client.get("/users/me", headers=account.headers)).json()
        assert (me["num_followers"], me["num_following"]) == (0, 0)
    async with users_service.engine.connect() as connection:
        assert (await connection.execute(_FOLLOWS_ACROSS_A_BLOCK)).scalar_one() == 0


async def _waiting_for_the_pair(connection: AsyncConnection) -> bool:
    return "advisory" in await _waiting(connection)


async def test_concurrent_follows_and_blocks_of_many_pairs_leave_no_follow_across_a_block(
    client: httpx.AsyncClient, users_service: StartedService, crowd: Crowd
) -> None:
    accounts = await crowd(60)
    pairs = list(zip(accounts[::2], accounts[1::2], strict=True))
    answers: list[httpx.Response] = []
    # Rounds of a few pairs: every follow races its block, within the connections a shared
    # PostgreSQL leaves this run.
    for first in range(0, len(pairs), PAIRS_PER_ROUND):
        requests = []
        for number, (follower, followed) in enumerate(pairs[first : first + PAIRS_PER_ROUND], start=first):
            # Half the blocks by the followed, half by the follower; the order of sending alternates too.
            blocker, target = (followed, follower) if number % 2 else (follower, followed)
            follow = client.post(f"/users/{followed.id}/follow", headers=follower.headers)
            block = client.post(f"/users/{target.id}/block", headers=blocker.headers)
            requests += [follow, block] if number % 4 < 2 else [block, follow]
        answers += await asyncio.gather(*requests)

    assert all(answer.status_code in (201, 403) for answer in answers), [a.status_code for a in answers]
    assert sum(answer.status_code == 201 for answer in answers) >= len(pairs)  # every block is through
    assert users_service.engine is not None
    async with users_service.engine.connect() as connection:
        assert (await connection.execute(_FOLLOWS_ACROSS_A_BLOCK)).scalar_one() == 0
        assert (await connection.execute(text("SELECT count(*) FROM blocks"))).scalar_one() == len(pairs)
        counters = await connection.execute(
            text("SELECT sum(num_followers) + sum(num_following) FROM actors")
        )
        assert counters.scalar_one() == 0


async def test_a_follow_after_a_committed_block_is_refused(client: httpx.AsyncClient) -> None:
    alice, bob = await register_and_login(client), await register_and_login(client)
    assert (await client.post(f"/users/{alice.id}/block", headers=bob.headers)).status_code == 201
    assert (await client.post(f"/users/{bob.id}/follow", headers=alice.headers)).status_code == 403
