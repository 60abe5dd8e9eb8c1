"""Fixtures of the notifications suite: the service (in-process, real ports), the notification
worker (in-process, on the real RabbitMQ), and a kit to publish contract-shaped events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import httpx
import orjson
import pytest
from aio_pika.abc import AbstractChannel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.fixtures import amqp_channel, worker_running
from devtools.testing import Account, StartedService, register_and_login, truncate_all, wait_for
from notification_worker.main import run
from shared.ids import uuid7
from shared.messaging.topology import NOTIFICATIONS_QUEUE, QUEUES, TWEET_EVENTS, USER_EVENTS
from shared.settings import Settings


class NotificationKit:
    def __init__(
        self, channel: AbstractChannel, users: StartedService, notifications: StartedService
    ) -> None:
        self.channel = channel
        self.users = users
        self.notifications = notifications

    @property
    def client(self) -> httpx.AsyncClient:
        return self.notifications.client

    @property
    def engine(self) -> AsyncEngine:
        assert self.notifications.engine is not None
        return self.notifications.engine

    async def account(self) -> Account:
        return await register_and_login(self.users.client)

    async def publish(self, body: dict[str, Any], event_id: uuid.UUID | None = None) -> dict[str, Any]:
        body = {"event_id": str(event_id or uuid7()), "occurred_at": datetime.now(UTC).isoformat(), **body}
        exchange_name = TWEET_EVENTS if body["event_type"].startswith("tweet.") else USER_EVENTS
        exchange = await self.channel.get_exchange(exchange_name)
        message = aio_pika.Message(
            orjson.dumps(body), message_id=body["event_id"], content_type="application/json"
        )
        await exchange.publish(message, routing_key=body["event_type"])
        return body

    async def activity(
        self, event_type: str, actor: Account, author: Account, tweet_id: uuid.UUID, **extra: Any
    ) -> dict[str, Any]:
        """A tweet.like / unlike / repost / unrepost / reply event as the contract shapes it."""
        body = {
            "event_type": event_type,
            "tweet_id": str(tweet_id),
            "author_id": str(author.id),
            "user_id": str(actor.id),
            "reply_id": None,
            **extra,
        }
        return await self.publish(body)

    async def follow(self, event_type: str, follower: Account, following: Account) -> dict[str, Any]:
        return await self.publish(
            {"event_type": event_type, "follower_id": str(follower.id), "following_id": str(following.id)}
        )

    async def tweet_written(
        self, event_type: str, author: Account, tweet_id: uuid.UUID, mentions: list[Account]
    ) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        return await self.publish(
            {
                "event_type": event_type,
                "tweet_id": str(tweet_id),
                "user_id": str(author.id),
                "content": " ".join(f"@{m.username}" for m in mentions) or "hello",
                "created_at": now,
                "updated_at": now,
                "entities": {
                    "hashtags": [],
                    "mentions": [{"id": str(m.id), "username": m.username} for m in mentions],
                },
            }
        )

    async def drained(self, timeout: float = 15.0) -> None:
        """Every message published so far is handled (the queue is empty and nothing is unacked)."""

        async def empty() -> bool:
            queue = await self.channel.declare_queue(NOTIFICATIONS_QUEUE, passive=True)
            return queue.declaration_result.message_count == 0

        await wait_for(empty, timeout)
        # A message taken but not yet acked is not counted: let the batch in flight commit.
        await asyncio.sleep(0.3)

    async def settled(self, recipient: Account) -> None:
        """Everything published before this is handled: a sentinel follow published now is
        written (the worker writes batches in arrival order, the negative cases in the same or an
        earlier transaction). The sentinel actor is no account, so GET /notifications leaves it out."""
        sentinel = uuid7()
        await self.publish(
            {"event_type": "user.follow", "follower_id": str(sentinel), "following_id": str(recipient.id)}
        )

        async def written() -> bool:
            async with self.engine.connect() as connection:
                found = await connection.execute(
                    text("SELECT 1 FROM notifications WHERE actor_id = :a"), {"a": sentinel}
                )
                return found.first() is not None

        await wait_for(written, 15)

    async def page(self, user: Account, **params: Any) -> dict[str, Any]:
        response = await self.client.get("/notifications", params=params, headers=user.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def notifications_of(self, user: Account, **params: Any) -> list[dict[str, Any]]:
        return list((await self.page(user, limit=100, **params))["notifications"])

    async def relate(self, table: str, subject: Account, target: Account) -> None:
        """A block or mute row, written straight into the users database."""
        columns = {"blocks": ("user_id", "target_id"), "mutes": ("user_id", "target_id")}[table]
        assert self.users.engine is not None
        async with self.users.engine.begin() as connection:
            await connection.execute(
                text(f"INSERT INTO {table} ({columns[0]}, {columns[1]}) VALUES (:a, :b)"),
                {"a": subject.id, "b": target.id},
            )

    async def dead_letters(self) -> int:
        queue = await self.channel.declare_queue(QUEUES[NOTIFICATIONS_QUEUE].dlq, passive=True)
        return int(queue.declaration_result.message_count or 0)


@pytest.fixture(scope="module")
async def amqp(settings: Settings) -> AsyncIterator[AbstractChannel]:
    async with amqp_channel(settings) as channel:
        yield channel


@pytest.fixture(scope="module")
async def running_worker(
    settings: Settings, notifications_service: StartedService, amqp: AbstractChannel
) -> AsyncIterator[None]:
    async with worker_running(run, settings, "notification-worker"):
        yield


@pytest.fixture
async def kit(
    amqp: AbstractChannel,
    users_service: StartedService,
    notifications_service: StartedService,
    running_worker: None,
) -> AsyncIterator[NotificationKit]:
    kit = NotificationKit(amqp, users_service, notifications_service)
    await truncate_all(kit.engine)
    yield kit
