"""Fixtures of the tweets tests: real accounts from users, a clean tweets database and broker queues
around every test, gRPC stubs, a tap on tweet_events, and a second tweets instance whose
dependencies (users, RabbitMQ, Redis) sit behind proxies a test can cut."""

from __future__ import annotations

import contextlib
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import orjson
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.fixtures import (
    AccountFactory,
    amqp_channel,
    engine_of,
    outbox_drained,
    purge_queues,
    registered_accounts,
)
from devtools.tcp_proxy import TcpProxy
from devtools.testing import (
    Account,
    StartedService,
    started_service,
    truncate_all,
    wait_for,
)
from fleet_proto import tweet_service_pb2_grpc, user_service_pb2_grpc
from shared.db.migrations import drop_database
from shared.grpc.auth import ServiceTokenClientInterceptor
from shared.messaging.topology import FEED_TWEETS_QUEUE, SEARCH_QUEUE, TWEET_EVENTS
from shared.settings import Settings
from tweets.main import SPEC


@pytest.fixture(scope="module")
async def accounts(users_service: StartedService) -> AsyncIterator[AccountFactory]:
    """Real accounts from users (real tokens), deleted after the module.

    Accounts live for a module because registering is slow on purpose (password hashing)."""
    async with registered_accounts(users_service) as register:
        yield register


@pytest.fixture(autouse=True)
async def clean_tweets(
    tweets_service: StartedService, settings: Settings, accounts: AccountFactory
) -> AsyncIterator[None]:
    """An empty tweets database for every test; afterwards the outbox is drained first, so no
    late event or counter change of this test lands in the next one (or in another suite)."""
    engine = engine_of(tweets_service)
    await truncate_all(engine)
    yield
    await outbox_drained(engine)
    await truncate_all(engine)
    await purge_queues(settings, (FEED_TWEETS_QUEUE, SEARCH_QUEUE), dead_letters=False)


@pytest.fixture(scope="module")
async def alice(accounts: AccountFactory) -> Account:
    return await accounts()


@pytest.fixture(scope="module")
async def bob(accounts: AccountFactory) -> Account:
    return await accounts()


@pytest.fixture
def client(tweets_service: StartedService) -> httpx.AsyncClient:
    return tweets_service.client


@pytest.fixture
async def tweets_grpc(
    tweets_service: StartedService, settings: Settings
) -> AsyncIterator[tweet_service_pb2_grpc.TweetAsyncStub]:
    """A real grpc.aio channel to the tweets gRPC port, as the feed and search sides use it."""
    token = ServiceTokenClientInterceptor(settings.internal.service_token)
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{settings.tweetservice.grpc_port}", interceptors=[token]
    ) as channel:
        yield tweet_service_pb2_grpc.TweetStub(channel)


@pytest.fixture
async def users_grpc(
    users_service: StartedService, settings: Settings
) -> AsyncIterator[user_service_pb2_grpc.UserAsyncStub]:
    token = ServiceTokenClientInterceptor(settings.internal.service_token)
    async with grpc.aio.insecure_channel(settings.userservice.grpc_target, interceptors=[token]) as channel:
        yield user_service_pb2_grpc.UserStub(channel)


class EventTap:
    """A private queue bound to tweet_events: what any consumer of tweet events would see."""

    def __init__(self, queue: AbstractQueue) -> None:
        self.queue = queue

    async def take(self, expected: int, timeout: float = 20.0) -> list[AbstractIncomingMessage]:
        """Wait for `expected` messages (and return any more that came with them)."""
        received: list[AbstractIncomingMessage] = []

        async def enough() -> bool:
            while (message := await self.queue.get(fail=False, no_ack=True)) is not None:
                received.append(message)
            return len(received) >= expected

        await wait_for(enough, timeout=timeout)
        return received

    async def until_sentinel(
        self, client: httpx.AsyncClient, author: Account, timeout: float = 30.0
    ) -> list[AbstractIncomingMessage]:
        """Every message before the tweet.create of a sentinel tweet posted now: the relay publishes
        in outbox order, so anything written earlier (a duplicate, a leak) arrives before it. The
        proof that nothing else came, where waiting a while could only hope so."""
        posted = await client.post("/tweet", json={"content": "sentinel"}, headers=author.headers)
        assert posted.status_code == 201, posted.text
        sentinel = posted.json()["id"]
        received: list[AbstractIncomingMessage] = []

        async def seen() -> bool:
            while (message := await self.queue.get(fail=False, no_ack=True)) is not None:
                if message.routing_key == "tweet.create" and self.body(message)["tweet_id"] == sentinel:
                    return True
                received.append(message)
            return False

        await wait_for(seen, timeout=timeout)
        return received

    @staticmethod
    def body(message: AbstractIncomingMessage) -> dict[str, Any]:
        decoded: dict[str, Any] = orjson.loads(message.body)
        return decoded


@pytest.fixture
async def amqp(settings: Settings) -> AsyncIterator[AbstractChannel]:
    async with amqp_channel(settings) as channel:
        yield channel


@pytest.fixture
async def tweet_events(amqp: AbstractChannel) -> EventTap:
    queue = await amqp.declare_queue(exclusive=True)
    await queue.bind(TWEET_EVENTS, "tweet.*")
    return EventTap(queue)


@dataclass
class ProxiedTweets:
    """A second tweets instance (own database) reaching users, RabbitMQ and Redis through proxies."""

    service: StartedService
    users: TcpProxy
    rabbitmq: TcpProxy
    redis: TcpProxy

    @property
    def engine(self) -> AsyncEngine:
        return engine_of(self.service)


ProxiedFactory = Callable[..., contextlib.AbstractAsyncContextManager[ProxiedTweets]]


@pytest.fixture
def proxied_tweets(settings: Settings, users_service: StartedService) -> ProxiedFactory:
    """`async with proxied_tweets(writes_per_minute=...) as p:` gives a ProxiedTweets, rate limiting on."""

    @contextlib.asynccontextmanager
    async def start(writes_per_minute: int = 10_000) -> AsyncIterator[ProxiedTweets]:
        amqp = urllib.parse.urlsplit(settings.rabbitmq.url.get_secret_value())
        redis = urllib.parse.urlsplit(settings.redis.url)
        proxies = {
            "users": TcpProxy(settings.userservice.host, settings.userservice.grpc_port),
            "rabbitmq": TcpProxy(amqp.hostname or "127.0.0.1", amqp.port or 5672),
            "redis": TcpProxy(redis.hostname or "127.0.0.1", redis.port or 6379),
        }
        for proxy in proxies.values():
            await proxy.start()
        rabbit_url = urllib.parse.urlunsplit(
            (
                amqp.scheme,
                f"{amqp.username}:{amqp.password}@127.0.0.1:{proxies['rabbitmq'].port}",
                amqp.path,
                "",
                "",
            )
        )
        isolated = settings.model_copy(
            update={
                "database": settings.database.model_copy(
                    update={"name_suffix": f"{settings.database.name_suffix}_proxied_{uuid.uuid4().hex[:6]}"}
                ),
                "rabbitmq": settings.rabbitmq.model_copy(update={"url": SecretStr(rabbit_url)}),
                "redis": settings.redis.model_copy(
                    update={
                        "url": f"redis://127.0.0.1:{proxies['redis'].port}{redis.path}",
                        "socket_timeout": 0.5,
                    }
                ),
                "ratelimit": settings.ratelimit.model_copy(
                    update={"enabled": True, "writes_per_minute": writes_per_minute}
                ),
                "userservice": settings.userservice.model_copy(
                    update={"host": "127.0.0.1", "grpc_port": proxies["users"].port}
                ),
                "tweetservice": settings.tweetservice.model_copy(update={"grpc_port": 0}),
            }
        )
        try:
            async with started_service(SPEC, isolated) as service:
                yield ProxiedTweets(service, **proxies)
        finally:
            for proxy in proxies.values():
                await proxy.stop()
            await drop_database(isolated.database, isolated.tweetservice.database)

    return start


async def create_tweet(client: httpx.AsyncClient, account: Account, content: str = "hello") -> dict[str, Any]:
    response = await client.post("/tweet", json={"content": content}, headers=account.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def post() -> Callable[..., Awaitable[dict[str, Any]]]:
    """`await post(client, account, content)` creates a tweet and returns its JSON (201 asserted)."""
    return create_tweet
