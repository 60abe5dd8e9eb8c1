"""The live stream against two real notifications processes sharing Redis: SSE and WebSocket
delivery to every connection of a user on either process, Last-Event-ID replay, heartbeats,
revocation and expiry closing a stream, tickets, the slow-consumer cap, and Redis going down."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import httpx
import jwt
import orjson
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from devtools.tcp_proxy import TcpProxy
from devtools.testing import assert_problem, wait_for
from notifications.live import NOTIFICATION, UPDATE, LivePublisher
from notifications.main import ALEMBIC_DIR
from notifications.tests.conftest import NotificationKit
from notifications.tests.live_processes import Process, notifications_process, user
from notifications.tests.sse_client import SSEStream, open_stream
from shared.db.migrations import migrate
from shared.ids import uuid7
from shared.revocation import Revocations
from shared.settings import Settings


@pytest.fixture(scope="module")
async def processes(settings: Settings) -> AsyncIterator[list[Process]]:
    await migrate(settings.database, settings.notificationservice.database, ALEMBIC_DIR)
    async with (
        notifications_process(settings) as first,
        notifications_process(settings) as second,
    ):
        yield [first, second]


@pytest.fixture
async def clients(processes: list[Process]) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(httpx.AsyncClient(base_url=p.base_url, timeout=10))
            for p in processes
        ]


@pytest.fixture
def publisher(redis: Redis) -> LivePublisher:
    return LivePublisher(redis)


def ws_url(process: Process, query: str = "") -> str:
    return f"ws://127.0.0.1:{process.port}/stream/ws{query}"


async def ws_next(connection: websockets.ClientConnection, timeout: float = 5.0) -> dict:
    frame = await asyncio.wait_for(connection.recv(), timeout)
    message: dict = orjson.loads(frame)
    return message


async def test_every_connection_of_a_user_on_either_process_gets_each_event(
    settings: Settings, processes: list[Process], clients: list[httpx.AsyncClient], publisher: LivePublisher
) -> None:
    alice, bob = user(settings), user(settings)
    async with (
        open_stream(clients[0], headers=alice.headers) as sse_first,
        open_stream(clients[1], headers=alice.headers) as sse_second,
        open_stream(clients[0], headers=bob.headers) as bob_sse,
        websockets.connect(ws_url(processes[1]), subprotocols=[alice.token]) as ws_by_protocol,  # type: ignore[list-item]
        websockets.connect(ws_url(processes[0])) as ws_by_message,
    ):
        assert ws_by_protocol.subprotocol == alice.token
        await ws_by_message.send(orjson.dumps({"token": alice.token}).decode())
        await asyncio.sleep(0.3)  # the first-message socket subscribes after reading the token
        data = orjson.dumps({"id": str(uuid7()), "type": "like"}).decode()
        await publisher.publish(NOTIFICATION, data, [alice.id])
        first, second = await sse_first.next(), await sse_second.next()
        assert first == second
        assert (first.type, first.data) == ("notification", data)
        for connection in (ws_by_protocol, ws_by_message):
            frame = await ws_next(connection)
            assert frame == {"event": "notification", "id": first.last_event_id, "data": orjson.loads(data)}
        # Sentinels: one hub connection carries every channel in publish order, so an event that
        # arrives after a later one proves the earlier one is not coming.
        await publisher.publish(UPDATE, '{"id": "for-bob"}', [bob.id])
        assert (await bob_sse.next()).data == '{"id": "for-bob"}'  # not alice's notification
        await publisher.publish(UPDATE, '{"id": "for-alice"}', [alice.id])
        assert (await sse_first.next()).data == '{"id": "for-alice"}'  # not bob's update


async def test_streams_opened_and_reopened_at_once_each_get_their_own_events(
    settings: Settings, clients: list[httpx.AsyncClient], publisher: LivePublisher
) -> None:
    """Many streams opening together share SUBSCRIBE commands, and a user who leaves and comes back
    at once has their channel dropped and wanted again: every stream still gets exactly its own."""
    users = [user(settings) for _ in range(40)]

    async def each_gets_its_own(streams: list[SSEStream], tag: str) -> None:
        for member in users:
            await publisher.publish(
                UPDATE, orjson.dumps({"to": str(member.id), "tag": tag}).decode(), [member.id]
            )
        for member, stream in zip(users, streams, strict=True):
            assert orjson.loads((await stream.next()).data) == {"to": str(member.id), "tag": tag}

    async with contextlib.AsyncExitStack() as first:
        streams = await asyncio.gather(
            *(first.enter_async_context(open_stream(clients[0], headers=member.headers)) for member in users)
        )
        await each_gets_its_own(streams, "first")
    # All closed together; opened again together while their channels are being unsubscribed.
    async with contextlib.AsyncExitStack() as again:
        streams = await asyncio.gather(
            *(again.enter_async_context(open_stream(clients[0], headers=member.headers)) for member in users)
        )
        await each_gets_its_own(streams, "again")


async def test_last_event_id_replays_what_was_missed_on_any_process(
    settings: Settings, clients: list[httpx.AsyncClient], publisher: LivePublisher
) -> None:
    alice = user(settings)
    async with open_stream(clients[0], headers=alice.headers) as stream:
        await publisher.publish(UPDATE, '{"n": 1}', [alice.id])
        seen = await stream.next()
    for n in (2, 3):
        await publisher.publish(UPDATE if n == 2 else "delete", f'{{"n": {n}}}', [alice.id])
    headers = {**alice.headers, "Last-Event-ID": seen.last_event_id}
    async with open_stream(clients[1], headers=headers) as resumed:
        replayed = [await resumed.next(), await resumed.next()]
        assert [(e.type, orjson.loads(e.data)["n"]) for e in replayed] == [("update", 2), ("delete", 3)]
        assert replayed[0].last_event_id < replayed[1].last_event_id
        await publisher.publish(UPDATE, '{"n": 4}', [alice.id])
        assert orjson.loads((await resumed.next()).data) == {"n": 4}
        await publisher.publish(UPDATE, '{"n": 5}', [alice.id])
        # The sentinel comes next: nothing replayed was sent a second time live.
        assert orjson.loads((await resumed.next()).data) == {"n": 5}
    # The same, for a new EventSource that can only say it in the URL.
    async with open_stream(
        clients[0], f"/stream?last_event_id={replayed[0].last_event_id}", alice.headers
    ) as fresh:
        assert orjson.loads((await fresh.next()).data) == {"n": 3}


async def test_the_wire_format_is_what_browsers_parse(
    settings: Settings, clients: list[httpx.AsyncClient], publisher: LivePublisher
) -> None:
    alice = user(settings)
    async with open_stream(clients[0], headers=alice.headers) as stream:
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert "no-cache" in stream.response.headers["cache-control"]
        await publisher.publish(NOTIFICATION, '{"a":"x\\ny"}', [alice.id])
        event = await stream.next()
        # Heartbeats are comment lines, one every 0.5 s in these processes.
        await wait_for(lambda: len(stream.parser.comments) >= 3, 5)
    raw = bytes(stream.raw)
    assert raw.startswith(b"retry: 3000\n: connected\n\n")
    frame = f'id: {event.last_event_id}\nevent: notification\ndata: {{"a":"x\\ny"}}\n\n'.encode()
    assert frame in raw
    assert b": heartbeat\n\n" in raw
    assert stream.parser.retry_ms == 3000
    assert event.last_event_id.count("-") == 1 and event.data == '{"a":"x\\ny"}'


async def test_a_revoked_token_closes_open_streams(
    settings: Settings, processes: list[Process], clients: list[httpx.AsyncClient], redis: Redis
) -> None:
    alice = user(settings)
    # Read without verifying: `iat` is rounded to the millisecond and may be a fraction ahead of now.
    claims = jwt.decode(alice.token, options={"verify_signature": False})
    async with (
        open_stream(clients[1], headers=alice.headers) as stream,
        websockets.connect(ws_url(processes[0]), subprotocols=[alice.token]) as ws,  # type: ignore[list-item]
    ):
        await Revocations(redis, settings.jwt.lifetime_seconds).revoke_token(claims["jti"], claims["exp"])
        closing = await stream.next(timeout=6)
        assert closing.type == "close" and orjson.loads(closing.data)["status"] == 401
        await asyncio.wait_for(stream.ended.wait(), 3)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 6)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    # And a new stream with it is refused.
    assert_problem(await clients[0].get("/stream", headers=alice.headers), 401)


async def test_an_expired_token_closes_the_stream(
    settings: Settings, clients: list[httpx.AsyncClient]
) -> None:
    brief = user(settings, lifetime_seconds=2)
    async with open_stream(clients[0], headers=brief.headers) as stream:
        closing = await stream.next(timeout=6)
        assert closing.type == "close" and orjson.loads(closing.data) == {
            "reason": "token has expired",
            "status": 401,
        }
        await asyncio.wait_for(stream.ended.wait(), 3)


async def test_tickets_are_single_use_and_tokens_never_go_in_the_url(
    settings: Settings, clients: list[httpx.AsyncClient], publisher: LivePublisher
) -> None:
    alice = user(settings)
    issued = await clients[0].post("/stream/ticket", headers=alice.headers)
    assert issued.status_code == 201, issued.text
    ticket = issued.json()["ticket"]
    async with open_stream(clients[1], f"/stream?ticket={ticket}") as stream:
        await publisher.publish(UPDATE, "{}", [alice.id])
        assert (await stream.next()).type == "update"
    assert_problem(await clients[1].get(f"/stream?ticket={ticket}"), 401)
    assert_problem(await clients[0].get(f"/stream?access_token={alice.token}"), 401)
    assert_problem(await clients[0].get("/stream"), 401)
    assert_problem(await clients[0].post("/stream/ticket"), 401)
    assert_problem(
        await clients[0].get("/stream", headers={**alice.headers, "Last-Event-ID": "yesterday"}), 422
    )


async def test_a_slow_consumer_is_disconnected_and_memory_stays_bounded(
    settings: Settings, processes: list[Process], publisher: LivePublisher
) -> None:
    alice = user(settings)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", processes[0].port))
    request = f"GET /stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice.token}\r\n\r\n"
    await loop.sock_sendall(sock, request.encode())
    await asyncio.sleep(0.5)  # subscribed; then this client reads nothing while events pour in
    payload = orjson.dumps({"pad": "x" * 8000}).decode()
    # A few at a time, as a busy timeline would: the socket buffers fill first, then the queue.
    for _ in range(200):
        await publisher.publish(UPDATE, payload, [alice.id] * 10)
        await asyncio.sleep(0.01)
    received = bytearray()
    deadline = time.monotonic() + 20
    with sock:
        while time.monotonic() < deadline:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), 20)
            if not chunk:
                break
            received += chunk
        else:
            pytest.fail("the slow client was never disconnected")
    delivered = received.count(b"event: update")
    assert 0 < delivered < 2000, delivered


async def test_a_notification_from_the_worker_reaches_the_stream(
    kit: NotificationKit, settings: Settings, clients: list[httpx.AsyncClient]
) -> None:
    alice, bob = await kit.account(), await kit.account()
    async with open_stream(clients[1], headers=alice.headers) as stream:
        await kit.activity("tweet.like", bob, alice, uuid7())
        event = await stream.next(timeout=10)
    assert event.type == "notification"
    body = orjson.loads(event.data)
    assert body["type"] == "like" and body["actor"]["username"] == bob.username and body["read"] is False
    (stored,) = await kit.notifications_of(alice)
    assert stored["id"] == body["id"]


async def test_redis_down_closes_streams_and_refuses_new_ones_until_it_is_back(
    settings: Settings, publisher: LivePublisher
) -> None:
    proxy = TcpProxy("127.0.0.1", 6379)
    await proxy.start()
    database = settings.redis.url.rsplit("/", 1)[1]
    through_proxy = {"REDIS__URL": f"redis://127.0.0.1:{proxy.port}/{database}"}
    alice = user(settings)
    try:
        async with (
            notifications_process(settings, **through_proxy) as process,
            httpx.AsyncClient(base_url=process.base_url, timeout=10) as client,
        ):
            async with open_stream(client, headers=alice.headers) as stream:
                await proxy.stop()
                closing = await stream.next(timeout=10)
                assert closing.type == "close" and orjson.loads(closing.data)["status"] == 503
                assert stream.parser.retry_ms is not None
            assert_problem(await client.get("/stream", headers=alice.headers), 503)
            proxy = TcpProxy("127.0.0.1", 6379)
            proxy.port = int(through_proxy["REDIS__URL"].split(":")[2].split("/")[0])
            await proxy.start()

            async def serving() -> bool:
                return (await client.get("/ready")).status_code == 200

            await wait_for(serving, 15)
            await asyncio.sleep(1.5)  # the hub reconnects within a second of Redis answering
            async with open_stream(client, headers=alice.headers) as stream:
                await publisher.publish(UPDATE, "{}", [alice.id])
                assert (await stream.next()).type == "update"
    finally:
        await proxy.stop()


async def _open_streams(client: httpx.AsyncClient) -> dict[str, float]:
    text = (await client.get("/metrics")).text
    return {
        sample.labels["kind"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "open_streams"
    }


async def test_open_streams_are_counted_by_kind_while_they_are_open(
    settings: Settings, processes: list[Process], clients: list[httpx.AsyncClient]
) -> None:
    alice = user(settings)
    before = await _open_streams(clients[0])
    async with (
        open_stream(clients[0], headers=alice.headers),
        websockets.connect(ws_url(processes[0]), subprotocols=[alice.token]),  # type: ignore[list-item]
    ):

        async def counted() -> bool:
            now = await _open_streams(clients[0])
            return all(now.get(kind, 0) == before.get(kind, 0) + 1 for kind in ("sse", "websocket"))

        await wait_for(counted, timeout=10)

    async def closed() -> bool:
        return await _open_streams(clients[0]) == {kind: before.get(kind, 0) for kind in ("sse", "websocket")}

    await wait_for(closed, timeout=10)
