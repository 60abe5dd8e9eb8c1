"""gRPC tweet_service.Tweet over a real grpc.aio channel: GetTweets, GetUserTweets, ListTweets."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import event

from devtools.testing import Account, StartedService
from fleet_proto import tweet_service_pb2 as pb
from fleet_proto import tweet_service_pb2_grpc
from shared.settings import Settings

Post = Callable[..., Awaitable[dict[str, Any]]]
Stub = tweet_service_pb2_grpc.TweetStub


def _ids(reply: pb.GetTweetsReply) -> list[str]:
    return [tweet.id for tweet in reply.tweets]


@pytest.fixture
def tweet_queries(tweets_service: StartedService) -> Iterator[list[str]]:
    """The SQL statements that touch the tweets table while the test runs."""
    assert tweets_service.engine is not None
    engine = tweets_service.engine.sync_engine
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM tweets" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


async def test_get_tweets_returns_them_in_the_order_asked_in_one_query(
    client: httpx.AsyncClient, alice: Account, post: Post, tweets_grpc: Stub, tweet_queries: list[str]
) -> None:
    tweets = [await post(client, alice, f"t{i}") for i in range(4)]
    await client.post(f"/tweet/like/{tweets[2]['id']}", headers=alice.headers)
    asked = [tweets[2]["id"], tweets[0]["id"], tweets[3]["id"], tweets[1]["id"]]
    tweet_queries.clear()

    reply = await tweets_grpc.GetTweets(pb.GetTweetsRequest(tweet_ids=asked), timeout=2)

    assert _ids(reply) == asked
    assert len(tweet_queries) == 1, tweet_queries
    first = reply.tweets[0]
    assert (first.user_id, first.content, first.num_likes, first.num_replys) == (str(alice.id), "t2", 1, 0)
    assert first.created_at.ToDatetime().year >= 2024
    assert first.updated_at.ToJsonString() >= first.created_at.ToJsonString()


async def test_get_tweets_leaves_out_missing_and_malformed_ids(
    client: httpx.AsyncClient, alice: Account, post: Post, tweets_grpc: Stub
) -> None:
    a, b = await post(client, alice, "a"), await post(client, alice, "b")
    deleted = await post(client, alice, "deleted")
    await client.delete(f"/tweet/{deleted['id']}", headers=alice.headers)
    asked = ["not-a-uuid", b["id"], str(uuid.uuid4()), deleted["id"], "", a["id"]]

    reply = await tweets_grpc.GetTweets(pb.GetTweetsRequest(tweet_ids=asked), timeout=2)

    assert _ids(reply) == [b["id"], a["id"]]


async def test_get_tweets_with_nothing_found_is_an_empty_answer(tweets_grpc: Stub) -> None:
    assert _ids(await tweets_grpc.GetTweets(pb.GetTweetsRequest(tweet_ids=[]), timeout=2)) == []
    assert _ids(await tweets_grpc.GetTweets(pb.GetTweetsRequest(tweet_ids=["x", "y"]), timeout=2)) == []


async def test_get_user_tweets_pages_newest_first_with_before_id(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post, tweets_grpc: Stub
) -> None:
    mine = [await post(client, alice, f"t{i}") for i in range(5)]
    await post(client, bob, "someone else's")
    newest_first = [t["id"] for t in reversed(mine)]

    first = await tweets_grpc.GetUserTweets(
        pb.GetUserTweetsRequest(user_id=str(alice.id), limit=2), timeout=2
    )
    second = await tweets_grpc.GetUserTweets(
        pb.GetUserTweetsRequest(user_id=str(alice.id), limit=2, before_id=first.tweets[-1].id), timeout=2
    )
    third = await tweets_grpc.GetUserTweets(
        pb.GetUserTweetsRequest(user_id=str(alice.id), limit=2, before_id=second.tweets[-1].id), timeout=2
    )
    everything = await tweets_grpc.GetUserTweets(pb.GetUserTweetsRequest(user_id=str(alice.id)), timeout=2)

    assert _ids(first) + _ids(second) + _ids(third) == newest_first
    assert _ids(everything) == newest_first  # limit 0 means the default page size


async def test_get_user_tweets_of_a_user_without_tweets_is_empty(tweets_grpc: Stub) -> None:
    reply = await tweets_grpc.GetUserTweets(pb.GetUserTweetsRequest(user_id=str(uuid.uuid4())), timeout=2)
    assert _ids(reply) == []


@pytest.mark.parametrize(
    "request_",
    [
        pb.GetUserTweetsRequest(user_id="nope"),
        pb.GetUserTweetsRequest(user_id=str(uuid.uuid4()), before_id="nope"),
        pb.GetUserTweetsRequest(user_id=str(uuid.uuid4()), limit=-1),
    ],
    ids=["bad-user-id", "bad-before-id", "negative-limit"],
)
async def test_get_user_tweets_with_bad_arguments_is_invalid_argument(
    tweets_grpc: Stub, request_: pb.GetUserTweetsRequest
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await tweets_grpc.GetUserTweets(request_, timeout=2)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_list_tweets_pages_through_every_tweet_in_id_order(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post, tweets_grpc: Stub
) -> None:
    created = [await post(client, author, f"t{i}") for i, author in enumerate([alice, bob] * 3)]

    seen: list[str] = []
    after = ""
    while True:
        page = await tweets_grpc.ListTweets(pb.ListTweetsRequest(limit=4, after_id=after), timeout=2)
        if not page.tweets:
            break
        assert len(page.tweets) <= 4
        seen += _ids(page)
        after = page.tweets[-1].id

    assert seen == [t["id"] for t in created]
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await tweets_grpc.ListTweets(pb.ListTweetsRequest(after_id="nope"), timeout=2)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_grpc_health_reports_serving(tweets_service: StartedService, settings: Settings) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{settings.tweetservice.grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "tweet_service.Tweet"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_get_user_reposts_pages_a_users_reposts_newest_first(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post, tweets_grpc: Stub
) -> None:
    tweets = [await post(client, alice, f"r{i}") for i in range(3)]
    for tweet in (tweets[1], tweets[0], tweets[2]):
        assert (await client.post(f"/tweet/repost/{tweet['id']}", headers=bob.headers)).status_code == 201

    first = await tweets_grpc.GetUserReposts(
        pb.GetUserRepostsRequest(user_id=str(bob.id), limit=2), timeout=2
    )
    rest = await tweets_grpc.GetUserReposts(
        pb.GetUserRepostsRequest(user_id=str(bob.id), limit=2, before_id=first.reposts[-1].id), timeout=2
    )

    reposts = [*first.reposts, *rest.reposts]
    # Newest repost first, whatever the age of the tweets reposted.
    assert [r.tweet_id for r in reposts] == [tweets[2]["id"], tweets[0]["id"], tweets[1]["id"]]
    assert {r.user_id for r in reposts} == {str(bob.id)}
    assert [r.id for r in reposts] == sorted((r.id for r in reposts), reverse=True)


async def test_get_viewer_state_says_which_tweets_the_user_liked_and_reposted(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post, tweets_grpc: Stub
) -> None:
    tweets = [await post(client, alice, f"v{i}") for i in range(3)]
    await client.post(f"/tweet/like/{tweets[0]['id']}", headers=bob.headers)
    await client.post(f"/tweet/like/{tweets[1]['id']}", headers=bob.headers)
    await client.post(f"/tweet/repost/{tweets[1]['id']}", headers=bob.headers)
    await client.post(f"/tweet/repost/{tweets[2]['id']}", headers=alice.headers)

    reply = await tweets_grpc.GetViewerState(
        pb.GetViewerStateRequest(user_id=str(bob.id), tweet_ids=[t["id"] for t in tweets] + ["junk"]),
        timeout=2,
    )

    assert set(reply.liked_ids) == {tweets[0]["id"], tweets[1]["id"]}
    assert set(reply.reposted_ids) == {tweets[1]["id"]}
