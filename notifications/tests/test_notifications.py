"""Notifications from contract-shaped events on the real RabbitMQ, through the real worker, read
over REST: each type, every "never" rule, redelivery, undo, read state, paging and bad input."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from sqlalchemy import text

from devtools.testing import Account, assert_problem, wait_for
from fleet_proto import notification_service_pb2 as pb
from fleet_proto import notification_service_pb2_grpc as pb_grpc
from notifications.tests.conftest import NotificationKit
from shared.grpc.auth import ServiceTokenClientInterceptor
from shared.ids import uuid7
from shared.settings import Settings


async def _one(kit: NotificationKit, user: Account, count: int = 1) -> list[dict]:
    async def arrived() -> list[dict] | None:
        found = await kit.notifications_of(user)
        return found if len(found) >= count else None

    result: list[dict] = await wait_for(arrived, 15)
    return result


async def test_each_type_notifies_the_right_user_with_its_actor_and_tweet(kit: NotificationKit) -> None:
    alice, bob = await kit.account(), await kit.account()
    tweet, reply, mentioning = uuid7(), uuid7(), uuid7()
    await kit.follow("user.follow", bob, alice)
    await kit.activity("tweet.like", bob, alice, tweet)
    await kit.activity("tweet.repost", bob, alice, tweet)
    await kit.activity("tweet.reply", bob, alice, tweet, reply_id=str(reply))
    await kit.tweet_written("tweet.create", bob, mentioning, [alice])
    found = await _one(kit, alice, 5)
    by_type = {item["type"]: item for item in found}
    assert set(by_type) == {"follow", "like", "repost", "reply", "mention"}
    for item in found:
        assert item["actor"] == {"id": str(bob.id), "username": bob.username, "display_name": bob.username}
        assert item["read"] is False
    assert by_type["follow"]["tweet_id"] is None
    assert by_type["like"]["tweet_id"] == by_type["repost"]["tweet_id"] == str(tweet)
    assert by_type["reply"]["tweet_id"] == str(reply)
    assert by_type["mention"]["tweet_id"] == str(mentioning)
    # Newest first.
    ids = [item["id"] for item in found]
    assert ids == sorted(ids, reverse=True)
    assert await kit.notifications_of(bob) == []


async def test_never_a_notification_to_yourself(kit: NotificationKit) -> None:
    alice = await kit.account()
    tweet = uuid7()
    await kit.activity("tweet.like", alice, alice, tweet)
    await kit.activity("tweet.repost", alice, alice, tweet)
    await kit.activity("tweet.reply", alice, alice, tweet, reply_id=str(uuid7()))
    await kit.tweet_written("tweet.create", alice, uuid7(), [alice])
    await kit.follow("user.follow", alice, alice)
    await kit.settled(alice)
    assert await kit.notifications_of(alice) == []


@pytest.mark.parametrize(
    "relation",
    ["recipient blocks actor", "actor blocks recipient", "recipient mutes actor"],
)
async def test_never_from_a_blocked_or_muted_account(kit: NotificationKit, relation: str) -> None:
    alice, bob, carol = await kit.account(), await kit.account(), await kit.account()
    if relation == "recipient blocks actor":
        await kit.relate("blocks", alice, bob)
    elif relation == "actor blocks recipient":
        await kit.relate("blocks", bob, alice)
    else:
        await kit.relate("mutes", alice, bob)
    tweet = uuid7()
    await kit.follow("user.follow", bob, alice)
    await kit.activity("tweet.like", bob, alice, tweet)
    await kit.activity("tweet.repost", bob, alice, tweet)
    await kit.activity("tweet.reply", bob, alice, tweet, reply_id=str(uuid7()))
    await kit.tweet_written("tweet.create", bob, uuid7(), [alice])
    # carol is neither blocked nor muted: her like gets through in the same stream of events.
    await kit.activity("tweet.like", carol, alice, tweet)
    await kit.settled(alice)
    found = await kit.notifications_of(alice)
    assert [(item["type"], item["actor"]["id"]) for item in found] == [("like", str(carol.id))]


async def test_muting_is_one_way(kit: NotificationKit) -> None:
    alice, bob = await kit.account(), await kit.account()
    await kit.relate("mutes", alice, bob)
    await kit.activity("tweet.like", alice, bob, uuid7())
    assert [item["type"] for item in await _one(kit, bob)] == ["like"]


async def test_a_redelivered_event_makes_no_second_notification(kit: NotificationKit) -> None:
    alice, bob = await kit.account(), await kit.account()
    tweet = uuid7()
    first = await kit.activity("tweet.like", bob, alice, tweet)
    await kit.publish(first)  # the same event (same event_id) delivered again
    await kit.activity("tweet.like", bob, alice, tweet)  # and the same like under a new event id
    await kit.tweet_written("tweet.create", bob, tweet, [alice])
    await kit.tweet_written("tweet.update", bob, tweet, [alice])  # the edit still mentions alice
    await kit.settled(alice)
    found = await kit.notifications_of(alice)
    assert sorted(item["type"] for item in found) == ["like", "mention"]


async def test_an_undo_removes_the_unread_notification_only(kit: NotificationKit) -> None:
    alice, bob = await kit.account(), await kit.account()
    liked, reposted = uuid7(), uuid7()
    await kit.activity("tweet.like", bob, alice, liked)
    await kit.activity("tweet.repost", bob, alice, reposted)
    await kit.follow("user.follow", bob, alice)
    await _one(kit, alice, 3)
    await kit.activity("tweet.unlike", bob, alice, liked)
    await kit.follow("user.unfollow", bob, alice)
    await kit.settled(alice)
    assert [item["type"] for item in await kit.notifications_of(alice)] == ["repost"]
    # Once read, a notification is history: the unrepost leaves it.
    (repost,) = await kit.notifications_of(alice)
    marked = await kit.client.post(
        "/notifications/read", json={"up_to_id": repost["id"]}, headers=alice.headers
    )
    assert marked.status_code == 204
    await kit.activity("tweet.unrepost", bob, alice, reposted)
    await kit.settled(alice)
    assert [(item["type"], item["read"]) for item in await kit.notifications_of(alice)] == [("repost", True)]


async def test_read_marker_counts_unread_and_never_moves_back_or_into_the_future(
    kit: NotificationKit,
) -> None:
    alice = await kit.account()
    actors = [await kit.account() for _ in range(3)]
    for actor in actors:
        await kit.follow("user.follow", actor, alice)
    found = await _one(kit, alice, 3)
    count = await kit.client.get("/notifications/unread_count", headers=alice.headers)
    assert count.json() == {"unread_count": 3}
    middle = found[1]["id"]
    assert (
        await kit.client.post("/notifications/read", json={"up_to_id": middle}, headers=alice.headers)
    ).status_code == 204
    page = await kit.page(alice)
    assert [item["read"] for item in page["notifications"]] == [False, True, True]
    assert page["unread_count"] == 1
    # An older id does not unread anything.
    oldest = found[2]["id"]
    await kit.client.post("/notifications/read", json={"up_to_id": oldest}, headers=alice.headers)
    assert (await kit.page(alice))["unread_count"] == 1
    # An id from the future marks what exists now, not what comes later.
    future = str(uuid.UUID(int=(1 << 128) - 1))
    await kit.client.post("/notifications/read", json={"up_to_id": future}, headers=alice.headers)
    assert (await kit.page(alice))["unread_count"] == 0
    await kit.activity("tweet.like", actors[0], alice, uuid7())
    await _one(kit, alice, 4)
    assert (await kit.page(alice))["unread_count"] == 1


async def test_cursor_paging_and_the_types_filter(kit: NotificationKit) -> None:
    alice, bob = await kit.account(), await kit.account()
    for _ in range(12):
        await kit.activity("tweet.like", bob, alice, uuid7())
    await kit.follow("user.follow", bob, alice)
    everything = await _one(kit, alice, 13)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 5} if cursor is None else {"limit": 5, "before": cursor}
        page = await kit.page(alice, **params)
        seen += [item["id"] for item in page["notifications"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == [item["id"] for item in everything]
    likes = await kit.notifications_of(alice, types="like")
    assert len(likes) == 12 and {item["type"] for item in likes} == {"like"}
    both = await kit.notifications_of(alice, types="follow,like")
    assert len(both) == 13


async def test_bad_input_is_problem_json(kit: NotificationKit) -> None:
    alice = await kit.account()
    assert_problem(
        await kit.client.get("/notifications", params={"types": "like,poke"}, headers=alice.headers), 422
    )
    assert_problem(await kit.client.get("/notifications", params={"types": ","}, headers=alice.headers), 422)
    assert_problem(
        await kit.client.get("/notifications", params={"before": "nope"}, headers=alice.headers), 422
    )
    assert_problem(await kit.client.get("/notifications", params={"limit": 101}, headers=alice.headers), 422)
    assert_problem(
        await kit.client.post("/notifications/read", json={"up_to_id": 5}, headers=alice.headers), 422
    )
    assert_problem(await kit.client.get("/notifications"), 401)
    assert_problem(await kit.client.get("/notifications/unread_count"), 401)


async def test_a_burst_of_likes_is_written_in_batches(kit: NotificationKit) -> None:
    """Two thousand likes of one tweet arriving at once: every one is a notification, written in
    far fewer transactions than events (each row's xmin names the transaction that wrote it)."""
    alice, bob = await kit.account(), await kit.account()
    tweet = uuid7()
    likes = [
        {
            "event_type": "tweet.like",
            "tweet_id": str(tweet),
            "author_id": str(alice.id),
            "user_id": str(uuid7()),
        }
        for _ in range(2000)
    ]
    for start in range(0, len(likes), 500):
        await asyncio.gather(*(kit.publish(like) for like in likes[start : start + 500]))
    await kit.activity("tweet.like", bob, alice, tweet)

    async def written() -> tuple[int, int] | None:
        async with kit.engine.connect() as connection:
            result = await connection.execute(
                text(
                    "SELECT count(*), count(DISTINCT xmin::text) FROM notifications WHERE recipient_id = :r"
                ),
                {"r": alice.id},
            )
            rows, transactions = result.one()
        return (int(rows), int(transactions)) if rows == 2001 else None

    rows, transactions = await wait_for(written, 60)
    assert transactions <= rows // 10, f"{transactions} transactions for {rows} notifications"
    unread = await kit.client.get("/notifications/unread_count", headers=alice.headers)
    assert unread.json() == {"unread_count": 2001}


async def test_an_invalid_event_is_dead_lettered(kit: NotificationKit) -> None:
    before = await kit.dead_letters()
    await kit.publish({"event_type": "tweet.like", "tweet_id": "nope"})
    await wait_for(lambda: _more(kit, before), 15)


async def _more(kit: NotificationKit, before: int) -> bool:
    return await kit.dead_letters() > before


async def test_grpc_get_unread_count(kit: NotificationKit, settings: Settings) -> None:
    alice, bob = await kit.account(), await kit.account()
    await kit.follow("user.follow", bob, alice)
    await _one(kit, alice)
    token = ServiceTokenClientInterceptor(settings.internal.service_token)
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{settings.notificationservice.grpc_port}", interceptors=[token]
    ) as channel:
        stub = pb_grpc.NotificationsStub(channel)
        reply = await stub.GetUnreadCount(pb.GetUnreadCountRequest(user_id=str(alice.id)), timeout=5)
        assert reply.unread_count == 1
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await stub.GetUnreadCount(pb.GetUnreadCountRequest(user_id="nope"), timeout=5)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
