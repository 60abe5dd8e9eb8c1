"""Tweet events on RabbitMQ: the contract body, persistent, with the request's trace context,
declared topology, and nothing for rejected changes."""

from __future__ import annotations

import secrets
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aio_pika
import httpx
from pydantic import SecretStr

from devtools.testing import Account, create_vhost, delete_vhost, started_service
from shared.db.migrations import drop_database
from shared.messaging.topology import QUEUES
from shared.settings import Settings
from tweets.main import SPEC

EVENT_FIELDS = {
    "event_id",
    "event_type",
    "tweet_id",
    "user_id",
    "content",
    "created_at",
    "updated_at",
    "entities",
}
ACTION_FIELDS = {"event_id", "event_type", "tweet_id", "author_id", "user_id", "reply_id", "occurred_at"}
Post = Callable[..., Awaitable[dict[str, Any]]]


def _traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


async def test_create_update_delete_each_publish_a_contract_event_in_the_callers_trace(
    client: httpx.AsyncClient, alice: Account, tweet_events: Any
) -> None:
    traces = [_traceparent() for _ in range(3)]
    created = await client.post(
        "/tweet", json={"content": "v1"}, headers=alice.headers | {"traceparent": traces[0][1]}
    )
    tweet = created.json()
    updated = await client.patch(
        f"/tweet/{tweet['id']}", json={"content": "v2"}, headers=alice.headers | {"traceparent": traces[1][1]}
    )
    await client.delete(f"/tweet/{tweet['id']}", headers=alice.headers | {"traceparent": traces[2][1]})

    messages = await tweet_events.until_sentinel(client, alice)
    assert len(messages) == 3, "each event exactly once"

    # Keyed by routing key: the contract promises each event, not an order between them.
    by_key = {m.routing_key: m for m in messages}
    assert sorted(by_key) == ["tweet.create", "tweet.delete", "tweet.update"]
    expected_traces = dict(zip(["tweet.create", "tweet.update", "tweet.delete"], traces, strict=True))
    bodies = {key: tweet_events.body(message) for key, message in by_key.items()}
    for key, message in by_key.items():
        body = bodies[key]
        assert set(body) == EVENT_FIELDS
        assert body["event_type"] == key
        assert (body["tweet_id"], body["user_id"]) == (tweet["id"], str(alice.id))
        assert datetime.fromisoformat(body["created_at"]) == datetime.fromisoformat(tweet["created_at"])
        assert message.message_id == body["event_id"]
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.exchange == "tweet_events"
        traceparent = (message.headers or {})["traceparent"]
        traceparent = traceparent.decode() if isinstance(traceparent, bytes) else traceparent
        assert traceparent.split("-")[1] == expected_traces[key][0], "the event continues the request's trace"
    assert len({body["event_id"] for body in bodies.values()}) == 3
    assert (bodies["tweet.create"]["content"], bodies["tweet.update"]["content"]) == ("v1", "v2")
    assert bodies["tweet.delete"]["content"] == "v2", "a delete carries the last content"
    update_time = datetime.fromisoformat(updated.json()["updated_at"])
    assert datetime.fromisoformat(bodies["tweet.update"]["updated_at"]) == update_time
    assert datetime.fromisoformat(bodies["tweet.delete"]["updated_at"]) >= update_time, "a delete orders last"


async def test_rejected_changes_publish_nothing(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post, tweet_events: Any
) -> None:
    tweet = await post(client, alice, "original")
    await tweet_events.take(1)
    await client.post(f"/tweet/like/{tweet['id']}", headers=bob.headers)
    await tweet_events.take(1)

    await client.patch(f"/tweet/{tweet['id']}", json={"content": "hijack"}, headers=bob.headers)
    await client.delete(f"/tweet/{tweet['id']}", headers=bob.headers)
    await client.post("/tweet", json={"content": ""}, headers=alice.headers)
    assert (await client.post(f"/tweet/like/{tweet['id']}", headers=bob.headers)).status_code == 409
    assert (await client.delete(f"/tweet/repost/{tweet['id']}", headers=bob.headers)).status_code == 404
    await client.post(f"/tweet/reply/{uuid.uuid4()}", json={"content": "re"}, headers=bob.headers)

    assert await tweet_events.until_sentinel(client, alice) == []


async def test_likes_reposts_and_replies_publish_who_acted_on_whose_tweet(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post, tweet_events: Any
) -> None:
    tweet = await post(client, alice, "original")
    await tweet_events.take(1)

    await client.post(f"/tweet/like/{tweet['id']}", headers=bob.headers)
    await client.delete(f"/tweet/like/{tweet['id']}", headers=bob.headers)
    await client.post(f"/tweet/repost/{tweet['id']}", headers=bob.headers)
    await client.delete(f"/tweet/repost/{tweet['id']}", headers=bob.headers)
    reply = (
        await client.post(f"/tweet/reply/{tweet['id']}", json={"content": "re"}, headers=bob.headers)
    ).json()

    bodies = [tweet_events.body(message) for message in await tweet_events.until_sentinel(client, alice)]
    assert len(bodies) == 5, "each event exactly once"
    by_type = {body["event_type"]: body for body in bodies}
    assert sorted(by_type) == ["tweet.like", "tweet.reply", "tweet.repost", "tweet.unlike", "tweet.unrepost"]
    for body in bodies:
        assert set(body) >= ACTION_FIELDS
        assert (body["tweet_id"], body["author_id"], body["user_id"]) == (
            tweet["id"],
            str(alice.id),
            str(bob.id),
        )
    assert by_type["tweet.reply"]["reply_id"] == reply["id"]
    assert by_type["tweet.like"]["reply_id"] is None
    # The repost and its removal name the same repost, a UUIDv7 made after the tweet.
    repost_id = by_type["tweet.repost"]["repost_id"]
    assert repost_id == by_type["tweet.unrepost"]["repost_id"]
    assert repost_id > tweet["id"]


async def test_startup_declares_the_whole_topology_before_any_worker_runs(settings: Settings) -> None:
    """Started against an empty vhost, the service declares general_tweets and the other queues,
    so events published before the feed or search worker ever ran are kept for them."""
    vhost = f"test_topology_{uuid.uuid4().hex[:8]}"
    create_vhost(vhost)
    amqp = urllib.parse.urlsplit(settings.rabbitmq.url.get_secret_value())
    url = urllib.parse.urlunsplit((amqp.scheme, amqp.netloc, "/" + vhost, "", ""))
    isolated = settings.model_copy(
        update={
            "rabbitmq": settings.rabbitmq.model_copy(update={"url": SecretStr(url)}),
            "database": settings.database.model_copy(
                update={"name_suffix": f"{settings.database.name_suffix}_topology"}
            ),
            "tweetservice": settings.tweetservice.model_copy(update={"grpc_port": 0}),
        }
    )
    try:
        async with started_service(SPEC, isolated):
            connection = await aio_pika.connect(url)
            try:
                for name in [*QUEUES, *(spec.dlq for spec in QUEUES.values())]:
                    channel = await connection.channel()
                    await channel.declare_queue(name, passive=True)  # raises if it does not exist
                    await channel.close()
            finally:
                await connection.close()
    finally:
        delete_vhost(vhost)
        await drop_database(isolated.database, isolated.tweetservice.database)
