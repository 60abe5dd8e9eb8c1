"""Follow events reach RabbitMQ through the outbox, also when the broker was down at commit time."""

from __future__ import annotations

import contextlib
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import aio_pika
import httpx
import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from pydantic import SecretStr
from sqlalchemy import text

from devtools.fixtures import outbox_drained
from devtools.tcp_proxy import TcpProxy
from devtools.testing import (
    TEST_PASSWORD,
    Account,
    StartedService,
    register_and_login,
    started_service,
    wait_for,
)
from shared.db.migrations import drop_database
from shared.messaging.topology import (
    QUEUES,
    SEARCH_USERS_QUEUE,
    USER_EVENTS,
    USER_FOLLOW,
    USER_UNFOLLOW,
    declare_exchanges,
)
from shared.settings import Settings
from users.main import SPEC


@pytest.fixture
async def user_events(settings: Settings) -> AsyncIterator[AbstractQueue]:
    """A private queue bound to user_events: what any consumer of follow events would see."""
    async with _bound_queue(settings, USER_FOLLOW, USER_UNFOLLOW) as queue:
        yield queue


@pytest.fixture
async def profile_events(settings: Settings) -> AsyncIterator[AbstractQueue]:
    """A private queue bound as the search worker's user index is: user.create, update and delete."""
    async with _bound_queue(settings, *(key for _, key in QUEUES[SEARCH_USERS_QUEUE].bindings)) as queue:
        yield queue


@contextlib.asynccontextmanager
async def _bound_queue(settings: Settings, *keys: str) -> AsyncIterator[AbstractQueue]:
    connection = await aio_pika.connect(settings.rabbitmq.url.get_secret_value())
    channel = await connection.channel()
    await declare_exchanges(channel)
    queue = await channel.declare_queue(exclusive=True)
    for key in keys:
        await queue.bind(USER_EVENTS, key)
    yield queue
    await connection.close()


async def _drain(
    queue: AbstractQueue,
    expected: int,
    sentinel: Callable[[], Awaitable[Account]],
    timeout: float = 20.0,
) -> list[AbstractIncomingMessage]:
    """The `expected` events, and any duplicate of them: once they are in, `sentinel()` makes one
    more change through the same outbox and relay (a new account's follow or registration), and
    whatever arrives before its event is counted (no sleep guessing how long a duplicate could take)."""
    received: list[AbstractIncomingMessage] = []
    marker: Account | None = None

    def about_marker(message: AbstractIncomingMessage) -> bool:
        body = orjson.loads(message.body)
        return marker is not None and str(marker.id) in (body.get("follower_id"), body.get("user_id"))

    async def arrived() -> bool:
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            received.append(message)
        if marker is None:
            return len(received) >= expected
        return any(about_marker(m) for m in received)

    await wait_for(arrived, timeout=timeout)
    marker = await sentinel()
    await wait_for(arrived, timeout=timeout)
    return [m for m in received if not about_marker(m)]


def _sentinel(client: httpx.AsyncClient, followed: Account) -> Callable[[], Awaitable[Account]]:
    """A new account following `followed`: its event marks the end of what was published before."""

    async def follow() -> Account:
        account = await register_and_login(client)
        response = await client.post(f"/users/{followed.id}/follow", headers=account.headers)
        assert response.status_code == 201, response.text
        return account

    return follow


def _registration(client: httpx.AsyncClient) -> Callable[[], Awaitable[Account]]:
    """A new account: its user.create marks the end of what was published before."""

    async def register() -> Account:
        return await register_and_login(client)

    return register


async def test_follow_and_unfollow_publish_contract_events(
    users_service: StartedService, user_events: AbstractQueue, alice: Account, bob: Account
) -> None:
    client = users_service.client
    await client.post(f"/users/{bob.id}/follow", headers=alice.headers)
    await client.delete(f"/users/{bob.id}/follow", headers=alice.headers)
    messages = await _drain(user_events, 2, _sentinel(client, bob))
    assert [m.routing_key for m in messages] == ["user.follow", "user.unfollow"]
    for message in messages:
        body = orjson.loads(message.body)
        assert set(body) == {"event_id", "event_type", "follower_id", "following_id", "occurred_at"}
        assert body["event_type"] == message.routing_key
        assert (body["follower_id"], body["following_id"]) == (str(alice.id), str(bob.id))
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.message_id == body["event_id"]
        assert "traceparent" in (message.headers or {})


async def test_a_deleted_accounts_follows_end_with_unfollow_events(
    users_service: StartedService, user_events: AbstractQueue
) -> None:
    client = users_service.client
    gone, follower, followed = [await register_and_login(client) for _ in range(3)]
    for who, whom in ((follower, gone), (gone, followed)):
        response = await client.post(f"/users/{whom.id}/follow", headers=who.headers)
        assert response.status_code == 201, response.text
    deleted = await client.request(
        "DELETE", "/users/me", json={"password": TEST_PASSWORD}, headers=gone.headers
    )
    assert deleted.status_code == 204, deleted.text

    messages = await _drain(user_events, 4, _sentinel(client, followed))
    ends = {
        (body["follower_id"], body["following_id"])
        for body in (orjson.loads(m.body) for m in messages)
        if body["event_type"] == "user.unfollow"
    }
    # Consumers clean up as for any unfollow (feed_worker: the account's entries leave its
    # followers' feeds; notifications: its "followed you" goes).
    assert ends == {(str(follower.id), str(gone.id)), (str(gone.id), str(followed.id))}


async def test_profile_changes_publish_user_events_in_order(
    users_service: StartedService, profile_events: AbstractQueue
) -> None:
    client = users_service.client
    alice = await register_and_login(client)
    bob = await register_and_login(client)
    await client.patch("/users/me", json={"display_name": "Alice Liddell"}, headers=alice.headers)
    await client.post(f"/users/{alice.id}/follow", headers=bob.headers)
    await client.delete(f"/users/{alice.id}/follow", headers=bob.headers)
    await client.request("DELETE", "/users/me", json={"password": TEST_PASSWORD}, headers=alice.headers)

    bodies = [orjson.loads(m.body) for m in await _drain(profile_events, 6, _registration(client))]
    about_alice = [body for body in bodies if body["user_id"] == str(alice.id)]
    assert [body["event_type"] for body in about_alice] == [
        "user.create",
        "user.update",
        "user.update",
        "user.update",
        "user.delete",
    ]
    create, renamed, followed, unfollowed, _ = about_alice
    assert set(create) == {
        "event_id",
        "event_type",
        "user_id",
        "username",
        "display_name",
        "num_followers",
        "occurred_at",
    }
    assert create["username"] == alice.username and create["num_followers"] == 0
    assert renamed["display_name"] == "Alice Liddell"
    assert (followed["num_followers"], unfollowed["num_followers"]) == (1, 0)
    times = [body["occurred_at"] for body in about_alice]
    assert times == sorted(times)
    assert [body["event_type"] for body in bodies if body["user_id"] == str(bob.id)] == ["user.create"]


@pytest.fixture
async def users_behind_proxy(settings: Settings) -> AsyncIterator[tuple[StartedService, TcpProxy]]:
    """A second users instance, with its own database, that reaches RabbitMQ only through a proxy."""
    amqp = urllib.parse.urlsplit(settings.rabbitmq.url.get_secret_value())
    proxy = TcpProxy(amqp.hostname or "127.0.0.1", amqp.port or 5672)
    await proxy.start()
    proxied_url = urllib.parse.urlunsplit(
        (amqp.scheme, f"{amqp.username}:{amqp.password}@127.0.0.1:{proxy.port}", amqp.path, "", "")
    )
    isolated = settings.model_copy(
        update={
            "rabbitmq": settings.rabbitmq.model_copy(update={"url": SecretStr(proxied_url)}),
            "database": settings.database.model_copy(
                update={"name_suffix": settings.database.name_suffix + "_proxy"}
            ),
            "userservice": settings.userservice.model_copy(update={"grpc_port": 0}),
        }
    )
    async with started_service(SPEC, isolated) as service:
        yield service, proxy
    await proxy.stop()
    await drop_database(isolated.database, isolated.userservice.database)


async def test_outbox_delivers_follows_made_while_the_broker_was_down_exactly_once(
    users_behind_proxy: tuple[StartedService, TcpProxy], user_events: AbstractQueue
) -> None:
    service, proxy = users_behind_proxy
    client = service.client
    alice = await register_and_login(client)
    fans = [await register_and_login(client) for _ in range(3)]

    await proxy.stop()  # RabbitMQ is now unreachable for this instance
    for fan in fans:
        response = await client.post(f"/users/{alice.id}/follow", headers=fan.headers)
        assert response.status_code == 201, "a follow must not fail because the broker is down"
    assert service.engine is not None
    async with service.engine.connect() as connection:
        pending = (
            await connection.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        ).scalar_one()
    assert pending == 6  # each follow, and the followed account's new follower count (user.update)
    ready = await client.get("/ready")
    assert ready.status_code == 503 and "rabbitmq" in ready.json()["detail"]

    async def relay_retrying() -> bool:
        state: str = (await client.get("/ready")).json()["background"]["outbox.rabbitmq"]
        return state == "retrying"

    await wait_for(relay_retrying, timeout=20)

    await proxy.start()  # the broker is back
    messages = await _drain(user_events, 3, _sentinel(client, alice), timeout=30)
    followers = sorted(orjson.loads(m.body)["follower_id"] for m in messages)
    assert followers == sorted(str(f.id) for f in fans), "each event exactly once"
    # The sentinel's own user.update may still be on its way: the relay has to finish, not be done.
    await outbox_drained(service.engine)


async def test_migrations_upgrade_an_empty_database_and_downgrade(settings: Settings) -> None:
    from shared.db.migrations import downgrade, migrate
    from users.main import ALEMBIC_DIR

    scratch = settings.database.model_copy(update={"name_suffix": f"_scratch_{uuid.uuid4().hex[:6]}"})
    try:
        await migrate(scratch, "users", ALEMBIC_DIR)
        await downgrade(scratch, "users", ALEMBIC_DIR, "base")
        await migrate(scratch, "users", ALEMBIC_DIR)
    finally:
        await drop_database(scratch, "users")
