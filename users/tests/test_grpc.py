"""The user_service.User gRPC API through a real server and channel."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import text

from devtools.testing import Account, StartedService
from fleet_proto import user_service_pb2 as pb
from fleet_proto import user_service_pb2_grpc as pb_grpc
from shared.grpc.auth import ServiceTokenClientInterceptor
from shared.settings import Settings
from users.repository import MAX_TWEET_COUNT


@pytest.fixture
async def stub(settings: Settings, users_service: StartedService) -> AsyncIterator[pb_grpc.UserStub]:
    token = ServiceTokenClientInterceptor(settings.internal.service_token)
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{settings.userservice.grpc_port}", interceptors=[token]
    ) as channel:
        yield pb_grpc.UserStub(channel)


async def test_get_user_and_get_users(stub: pb_grpc.UserStub, alice: Account, bob: Account) -> None:
    reply = await stub.GetUser(pb.GetUserRequest(user_id=str(alice.id)), timeout=5)
    assert reply.username == "alice" and reply.id == str(alice.id)
    missing = str(uuid.uuid4())
    many = await stub.GetUsers(pb.GetUsersRequest(user_ids=[str(bob.id), missing, str(alice.id)]), timeout=5)
    assert [u.username for u in many.users] == ["bob", "alice"]


async def test_get_user_errors_map_to_status_codes(stub: pb_grpc.UserStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as not_found:
        await stub.GetUser(pb.GetUserRequest(user_id=str(uuid.uuid4())), timeout=5)
    assert not_found.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await stub.GetUser(pb.GetUserRequest(user_id="nope"), timeout=5)
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_increment_tweets_applies_each_idempotency_key_once(
    stub: pb_grpc.UserStub, alice: Account
) -> None:
    request = pb.IncrementTweetsRequest(user_id=str(alice.id), delta=1, idempotency_key="k1")
    assert (await stub.IncrementTweets(request, timeout=5)).num_tweets == 1
    assert (await stub.IncrementTweets(request, timeout=5)).num_tweets == 1
    other = pb.IncrementTweetsRequest(user_id=str(alice.id), delta=1, idempotency_key="k2")
    assert (await stub.IncrementTweets(other, timeout=5)).num_tweets == 2
    down = pb.IncrementTweetsRequest(user_id=str(alice.id), delta=-5, idempotency_key="k3")
    assert (await stub.IncrementTweets(down, timeout=5)).num_tweets == 0


async def test_concurrent_increments_are_atomic(stub: pb_grpc.UserStub, alice: Account) -> None:
    await asyncio.gather(
        *(
            stub.IncrementTweets(
                pb.IncrementTweetsRequest(user_id=str(alice.id), delta=1, idempotency_key=f"c{i}"), timeout=10
            )
            for i in range(40)
        )
    )
    assert (await stub.GetUser(pb.GetUserRequest(user_id=str(alice.id)), timeout=5)).num_tweets == 40


async def test_get_followers_pages_through_a_large_following(
    stub: pb_grpc.UserStub, users_service: StartedService, alice: Account
) -> None:
    # 2,500 followers inserted in bulk: the pages must cover each exactly once.
    assert users_service.engine is not None
    async with users_service.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO actors (id, email, email_key, username, password_hash) "
                "SELECT gen_random_uuid(), 'f' || i || '@example.com', 'f' || i || '@example.com', 'f' || i, 'x' "
                "FROM generate_series(1, 2500) i"
            )
        )
        await connection.execute(
            text(
                "INSERT INTO follows (follower_id, following_id) SELECT id, :alice FROM actors WHERE id <> :alice"
            ),
            {"alice": alice.id},
        )
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        reply = await stub.GetFollowers(
            pb.FollowPageRequest(user_id=str(alice.id), page_size=1000, page_token=token), timeout=5
        )
        seen += reply.user_ids
        pages += 1
        token = reply.next_page_token
        if not token:
            break
    assert pages == 3 and len(seen) == 2500 and len(set(seen)) == 2500
    with pytest.raises(grpc.aio.AioRpcError) as bad_token:
        await stub.GetFollowers(pb.FollowPageRequest(user_id=str(alice.id), page_token="%%%"), timeout=5)
    assert bad_token.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_get_following(
    stub: pb_grpc.UserStub, client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    await client.post(f"/users/{bob.id}/follow", headers=alice.headers)
    reply = await stub.GetFollowing(pb.FollowPageRequest(user_id=str(alice.id), page_size=10), timeout=5)
    assert list(reply.user_ids) == [str(bob.id)] and reply.next_page_token == ""


async def test_health_service_reports_serving(settings: Settings, users_service: StartedService) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{settings.userservice.grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "user_service.User"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_increment_tweets_of_an_unknown_user_is_not_found_and_keeps_its_key_unused(
    stub: pb_grpc.UserStub, alice: Account
) -> None:
    ghost = pb.IncrementTweetsRequest(user_id=str(uuid.uuid4()), delta=1, idempotency_key="ghost-key")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.IncrementTweets(ghost, timeout=5)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    # The failed call rolled back: the same key still applies to a user that exists.
    reused = pb.IncrementTweetsRequest(user_id=str(alice.id), delta=1, idempotency_key="ghost-key")
    assert (await stub.IncrementTweets(reused, timeout=5)).num_tweets == 1


def _change(user: Account | str, delta: int, key: str = "") -> pb.IncrementTweetsRequest:
    user_id = user if isinstance(user, str) else str(user.id)
    return pb.IncrementTweetsRequest(user_id=user_id, delta=delta, idempotency_key=key)


async def _batch(stub: pb_grpc.UserStub, *changes: pb.IncrementTweetsRequest) -> list[tuple[int, bool, bool]]:
    reply = await stub.IncrementTweetsBatch(pb.IncrementTweetsBatchRequest(changes=changes), timeout=5)
    assert [result.user_id for result in reply.results] == [change.user_id for change in changes]
    return [(result.num_tweets, result.found, result.applied) for result in reply.results]


async def _num_tweets(stub: pb_grpc.UserStub, account: Account) -> int:
    return (await stub.GetUser(pb.GetUserRequest(user_id=str(account.id)), timeout=5)).num_tweets


async def test_increment_tweets_batch_applies_the_changes_in_order(
    stub: pb_grpc.UserStub, alice: Account, bob: Account
) -> None:
    results = await _batch(
        stub,
        _change(alice, 1, "a1"),
        _change(bob, 1, "b1"),
        _change(alice, 1, "a2"),
        _change(alice, 1, "a3"),
        _change(bob, -1, "b2"),
        _change(alice, -1, "a4"),
    )
    # Each result is the count right after its own change.
    assert results == [
        (1, True, True),
        (1, True, True),
        (2, True, True),
        (3, True, True),
        (0, True, True),
        (2, True, True),
    ]
    assert (await _num_tweets(stub, alice), await _num_tweets(stub, bob)) == (2, 0)
    # The single call sees the batch's work (and its keys).
    assert (await stub.IncrementTweets(_change(alice, 1, "a1"), timeout=5)).num_tweets == 2


async def test_increment_tweets_batch_applies_each_key_once_within_and_across_batches(
    stub: pb_grpc.UserStub, alice: Account
) -> None:
    assert await _batch(stub, _change(alice, 1, "k1"), _change(alice, 1, "k1"), _change(alice, 1, "k2")) == [
        (1, True, True),
        (1, True, False),
        (2, True, True),
    ]
    # A retried batch (the relay's redelivery) changes nothing; its new keys still apply.
    assert await _batch(stub, _change(alice, 1, "k1"), _change(alice, 1, "k2"), _change(alice, 1, "k3")) == [
        (2, True, False),
        (2, True, False),
        (3, True, True),
    ]
    # Keys the single call applied count too, and no key means "apply every time".
    assert (await stub.IncrementTweets(_change(alice, 1, "single"), timeout=5)).num_tweets == 4
    assert await _batch(stub, _change(alice, 1, "single"), _change(alice, 1), _change(alice, 1)) == [
        (4, True, False),
        (5, True, True),
        (6, True, True),
    ]
    assert await _num_tweets(stub, alice) == 6


async def test_increment_tweets_batch_clamps_at_zero_at_every_step(
    stub: pb_grpc.UserStub, alice: Account, bob: Account
) -> None:
    await _batch(stub, _change(bob, 2, "start"))
    results = await _batch(
        stub,
        _change(alice, 1, "c1"),
        _change(alice, -5, "c2"),  # 1 - 5 stops at 0, not -4 ...
        _change(alice, 2, "c3"),  # ... so this makes 2, not -2
        _change(bob, -3, "c4"),
        _change(bob, 1, "c5"),
        _change(alice, -1, "c2"),  # a used key: no change
        _change(alice, -1, "c6"),
    )
    assert [count for count, _, _ in results] == [1, 0, 2, 0, 1, 2, 1]
    assert (await _num_tweets(stub, alice), await _num_tweets(stub, bob)) == (1, 1)


async def test_increment_tweets_batch_reports_an_unknown_user_and_applies_the_others(
    stub: pb_grpc.UserStub, alice: Account
) -> None:
    ghost = str(uuid.uuid4())
    results = await _batch(
        stub, _change(alice, 1, "x1"), _change(ghost, 1, "ghost-key"), _change(alice, 1, "x2")
    )
    assert results == [(1, True, True), (0, False, False), (2, True, True)]
    assert await _num_tweets(stub, alice) == 2
    # The unknown user did not use its key up: it still applies to a user that exists.
    assert await _batch(stub, _change(alice, 1, "ghost-key")) == [(3, True, True)]


async def test_increment_tweets_batch_with_a_bad_id_fails_whole_and_applies_nothing(
    stub: pb_grpc.UserStub, alice: Account
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await _batch(stub, _change(alice, 1, "before-bad"), _change("not-a-uuid", 1, "bad"))
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await _num_tweets(stub, alice) == 0
    assert await _batch(stub, _change(alice, 1, "before-bad")) == [(1, True, True)]


async def test_increment_tweets_batch_empty_and_too_large(stub: pb_grpc.UserStub, alice: Account) -> None:
    assert await _batch(stub) == []
    with pytest.raises(grpc.aio.AioRpcError) as too_large:
        await _batch(stub, *(_change(alice, 1, f"big{i}") for i in range(1001)))
    assert too_large.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await _num_tweets(stub, alice) == 0


async def test_increment_tweets_batch_of_hundreds_and_concurrent_single_calls_are_atomic(
    stub: pb_grpc.UserStub, alice: Account
) -> None:
    # 500 batch changes (the relay's limit) race 40 single calls on the same row: none is lost.
    batch = _batch(stub, *(_change(alice, 1, f"b{i}") for i in range(500)))
    singles = [stub.IncrementTweets(_change(alice, 1, f"s{i}"), timeout=10) for i in range(40)]
    results, *_ = await asyncio.gather(batch, *singles)
    assert all(found and applied for _, found, applied in results)
    assert await _num_tweets(stub, alice) == 540


@pytest.mark.parametrize("delta", [2**63 - 1, -(2**63), 1_000_001, -1_000_001])
async def test_a_delta_beyond_the_bound_is_invalid_and_changes_nothing(
    stub: pb_grpc.UserStub, alice: Account, delta: int
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as single:
        await stub.IncrementTweets(_change(alice, delta, "huge"), timeout=5)
    assert single.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as batch:
        await _batch(stub, _change(alice, 1, "fine"), _change(alice, delta, "huge"))
    assert batch.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await _num_tweets(stub, alice) == 0
    # The keys stayed unused: nothing was recorded for the refused calls.
    assert await _batch(stub, _change(alice, 1_000_000, "huge"), _change(alice, 1, "fine")) == [
        (1_000_000, True, True),
        (1_000_001, True, True),
    ]


async def test_counters_stay_below_the_ceiling_even_from_an_overflowed_value(
    stub: pb_grpc.UserStub, users_service: StartedService, alice: Account, bob: Account
) -> None:
    """A counter at bigint's maximum (written before the bound existed) neither overflows nor
    fails the statements that move it: it comes back under the ceiling."""
    assert users_service.engine is not None
    async with users_service.engine.begin() as connection:
        await connection.execute(
            text("UPDATE actors SET num_tweets = :n WHERE id = ANY(:ids)"),
            {"n": 2**63 - 1, "ids": [alice.id, bob.id]},
        )
    assert (await stub.IncrementTweets(_change(alice, 1, "a"), timeout=5)).num_tweets == MAX_TWEET_COUNT
    results = await _batch(stub, _change(bob, 1, "b1"), _change(bob, -1, "b2"))
    assert [(found, applied) for _, found, applied in results] == [(True, True), (True, True)]
    assert all(MAX_TWEET_COUNT - 1 <= count <= MAX_TWEET_COUNT for count, _, _ in results)
    assert await _num_tweets(stub, bob) <= MAX_TWEET_COUNT
    assert (
        await stub.IncrementTweets(_change(alice, 1_000_000, "a2"), timeout=5)
    ).num_tweets == MAX_TWEET_COUNT


async def test_get_users_caps_the_number_of_ids(stub: pb_grpc.UserStub, alice: Account) -> None:
    too_many = [str(uuid.uuid4()) for _ in range(1001)]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetUsers(pb.GetUsersRequest(user_ids=too_many), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    reply = await stub.GetUsers(pb.GetUsersRequest(user_ids=[str(alice.id)] * 1000), timeout=5)
    assert [user.id for user in reply.users] == [str(alice.id)] * 1000


async def test_an_over_long_idempotency_key_is_invalid_argument(
    stub: pb_grpc.UserStub, alice: Account
) -> None:
    key = "k" * 129
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.IncrementTweets(
            pb.IncrementTweetsRequest(user_id=str(alice.id), delta=1, idempotency_key=key), timeout=5
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    batch = pb.IncrementTweetsBatchRequest(
        changes=[pb.IncrementTweetsRequest(user_id=str(alice.id), delta=1, idempotency_key=key)]
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.IncrementTweetsBatch(batch, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_get_users_by_username_is_case_insensitive_and_skips_unknown_names(
    stub: pb_grpc.UserStub, alice: Account, bob: Account
) -> None:
    reply = await stub.GetUsersByUsername(
        pb.GetUsersByUsernameRequest(usernames=["ALICE", "nobody_here", "bob", "alice"]), timeout=5
    )
    assert sorted((user.username, user.id) for user in reply.users) == [
        ("alice", str(alice.id)),
        ("bob", str(bob.id)),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as too_many:
        await stub.GetUsersByUsername(pb.GetUsersByUsernameRequest(usernames=["x"] * 101), timeout=5)
    assert too_many.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_list_users_pages_every_account_in_id_order(
    stub: pb_grpc.UserStub, alice: Account, bob: Account
) -> None:
    seen: list[str] = []
    page = await stub.ListUsers(pb.ListUsersRequest(limit=1), timeout=5)
    while page.users:
        assert len(page.users) == 1
        seen.append(page.users[0].id)
        page = await stub.ListUsers(pb.ListUsersRequest(limit=1, after_id=page.users[-1].id), timeout=5)
    assert seen == sorted(seen, key=uuid.UUID) and {str(alice.id), str(bob.id)} <= set(seen)


async def test_is_blocked_or_muted_reads_both_relations(
    stub: pb_grpc.UserStub, users_service: StartedService, alice: Account, bob: Account
) -> None:
    def ask(user: Account, other: Account) -> pb.IsBlockedOrMutedRequest:
        return pb.IsBlockedOrMutedRequest(user_id=str(user.id), other_id=str(other.id))

    nothing = await stub.IsBlockedOrMuted(ask(alice, bob), timeout=5)
    assert (nothing.blocked, nothing.muted) == (False, False)
    assert users_service.engine is not None
    async with users_service.engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO mutes (user_id, target_id) VALUES (:a, :b)"), {"a": alice.id, "b": bob.id}
        )
    muted = await stub.IsBlockedOrMuted(ask(alice, bob), timeout=5)
    assert (muted.blocked, muted.muted) == (False, True)
    # Muting is one way: bob has not muted alice.
    assert not (await stub.IsBlockedOrMuted(ask(bob, alice), timeout=5)).muted
    async with users_service.engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO blocks (user_id, target_id) VALUES (:a, :b)"), {"a": bob.id, "b": alice.id}
        )
    # Blocking hides both ways: whoever asks, the pair is blocked.
    assert (await stub.IsBlockedOrMuted(ask(alice, bob), timeout=5)).blocked
    assert (await stub.IsBlockedOrMuted(ask(bob, alice), timeout=5)).blocked
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await stub.IsBlockedOrMuted(
            pb.IsBlockedOrMutedRequest(user_id="nope", other_id=str(bob.id)), timeout=5
        )
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
