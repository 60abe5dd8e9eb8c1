"""Blocks and mutes: the REST routes, their events, the end of follows, and the gRPC checks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
import grpc
import httpx
import orjson
import pytest
from aio_pika.abc import AbstractQueue

from devtools.testing import Account, StartedService, register_and_login, wait_for
from fleet_proto import user_service_pb2 as pb
from fleet_proto import user_service_pb2_grpc as pb_grpc
from shared.grpc.auth import ServiceTokenClientInterceptor
from shared.messaging.topology import USER_EVENTS, declare_exchanges
from shared.settings import Settings


@pytest.fixture
async def stub(settings: Settings, users_service: StartedService) -> AsyncIterator[pb_grpc.UserStub]:
    token = ServiceTokenClientInterceptor(settings.internal.service_token)
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{settings.userservice.grpc_port}", interceptors=[token]
    ) as channel:
        yield pb_grpc.UserStub(channel)


@pytest.fixture
async def user_events(settings: Settings) -> AsyncIterator[AbstractQueue]:
    connection = await aio_pika.connect(settings.rabbitmq.url.get_secret_value())
    channel = await connection.channel()
    await declare_exchanges(channel)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(USER_EVENTS, "user.*")
    yield queue
    await connection.close()


async def _events(queue: AbstractQueue, expected: int) -> list[dict[str, str]]:
    """The next `expected` relation events; user.update (profile counters for user search) skipped."""
    bodies: list[dict[str, str]] = []

    async def enough() -> bool:
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            body = orjson.loads(message.body)
            if body["event_type"] != "user.update":
                bodies.append(body)
        return len(bodies) >= expected

    await wait_for(enough, timeout=20)
    return bodies


async def test_a_block_ends_follows_both_ways_and_refuses_a_new_follow(
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    stub: pb_grpc.UserStub,
    user_events: AbstractQueue,
) -> None:
    assert (await client.post(f"/users/{bob.id}/follow", headers=alice.headers)).status_code == 201
    assert (await client.post(f"/users/{alice.id}/follow", headers=bob.headers)).status_code == 201
    await _events(user_events, 2)

    assert (await client.post(f"/users/{bob.id}/block", headers=alice.headers)).status_code == 201

    bodies = await _events(user_events, 3)
    assert sorted(body["event_type"] for body in bodies) == ["user.block", "user.unfollow", "user.unfollow"]
    (blocked,) = [body for body in bodies if body["event_type"] == "user.block"]
    assert (blocked["user_id"], blocked["target_id"]) == (str(alice.id), str(bob.id))
    for account in (alice, bob):
        me = (await client.get("/users/me", headers=account.headers)).json()
        assert (me["num_followers"], me["num_following"]) == (0, 0)
    # Neither may follow the other while the block stands; the blocked one cannot unblock it.
    assert (await client.post(f"/users/{alice.id}/follow", headers=bob.headers)).status_code == 403
    assert (await client.post(f"/users/{bob.id}/follow", headers=alice.headers)).status_code == 403
    assert (await client.delete(f"/users/{alice.id}/block", headers=bob.headers)).status_code == 404
    for a, b in ((alice, bob), (bob, alice)):
        reply = await stub.IsBlocked(pb.IsBlockedRequest(user_id=str(a.id), other_id=str(b.id)))
        assert reply.blocked
    hidden = await stub.GetHiddenUsers(pb.GetHiddenUsersRequest(user_id=str(bob.id)))
    assert list(hidden.user_ids) == [str(alice.id)], "the blocked account does not see the blocker either"

    blocks = (await client.get("/users/me/blocks", headers=alice.headers)).json()
    assert [user["id"] for user in blocks["users"]] == [str(bob.id)]
    assert (await client.post(f"/users/{bob.id}/block", headers=alice.headers)).status_code == 409

    assert (await client.delete(f"/users/{bob.id}/block", headers=alice.headers)).status_code == 204
    assert (await client.post(f"/users/{alice.id}/follow", headers=bob.headers)).status_code == 201
    assert not (
        await stub.IsBlocked(pb.IsBlockedRequest(user_id=str(bob.id), other_id=str(alice.id)))
    ).blocked
    assert "user.unblock" in [body["event_type"] for body in await _events(user_events, 2)]


async def test_a_mute_hides_only_for_the_muter_and_keeps_the_follow(
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    stub: pb_grpc.UserStub,
    user_events: AbstractQueue,
) -> None:
    assert (await client.post(f"/users/{bob.id}/follow", headers=alice.headers)).status_code == 201
    assert (await client.post(f"/users/{bob.id}/mute", headers=alice.headers)).status_code == 201

    assert [b["event_type"] for b in await _events(user_events, 2)] == ["user.follow", "user.mute"]
    hidden = await stub.GetHiddenUsers(pb.GetHiddenUsersRequest(user_id=str(alice.id)))
    assert list(hidden.user_ids) == [str(bob.id)]
    assert list((await stub.GetHiddenUsers(pb.GetHiddenUsersRequest(user_id=str(bob.id)))).user_ids) == []
    assert not (
        await stub.IsBlocked(pb.IsBlockedRequest(user_id=str(alice.id), other_id=str(bob.id)))
    ).blocked
    assert (await client.get("/users/me", headers=alice.headers)).json()["num_following"] == 1
    mutes = (await client.get("/users/me/mutes", headers=alice.headers)).json()
    assert [user["id"] for user in mutes["users"]] == [str(bob.id)]

    assert (await client.delete(f"/users/{bob.id}/mute", headers=alice.headers)).status_code == 204
    assert (await client.delete(f"/users/{bob.id}/mute", headers=alice.headers)).status_code == 404
    assert [b["event_type"] for b in await _events(user_events, 1)] == ["user.unmute"]


async def test_blocking_or_muting_oneself_or_nobody_is_refused(
    client: httpx.AsyncClient, alice: Account
) -> None:
    for kind in ("block", "mute"):
        assert (await client.post(f"/users/{alice.id}/{kind}", headers=alice.headers)).status_code == 400
        nobody = "00000000-0000-7000-8000-000000000000"
        assert (await client.post(f"/users/{nobody}/{kind}", headers=alice.headers)).status_code == 404
        assert (await client.post(f"/users/{alice.id}/{kind}")).status_code == 401


async def test_a_new_account_blocks_nobody(client: httpx.AsyncClient) -> None:
    carol = await register_and_login(client, "carol")
    assert (await client.get("/users/me/blocks", headers=carol.headers)).json()["total"] == 0
