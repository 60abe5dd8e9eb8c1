"""Fixtures of the search suite: ONE behavioural suite run against every reachable backend.

`stack` is parametrized over the backends: PostgreSQL always (the root `search_service`), and
Elasticsearch when ELASTICSEARCH_URL (or ELASTICSEARCH__URL) answers, with its own index, ports
and RabbitMQ vhost. Each test gets an empty index; `worker` runs the search worker in-process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx
import orjson
import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection
from elasticsearch import AsyncElasticsearch
from pydantic import SecretStr

from devtools.fixtures import tweet_event as devtools_tweet_event
from devtools.fixtures import worker_running
from devtools.testing import StartedService, create_vhost, delete_vhost, free_port, started_service, wait_for
from search.backends import IndexDocument, SearchBackend, create_backend, microseconds
from search.backends.elasticsearch import ElasticsearchBackend
from search.main import SPEC
from search_worker.main import run
from shared.messaging.events import TweetEvent
from shared.messaging.topology import QUEUES, SEARCH_QUEUE, SEARCH_USERS_QUEUE, TWEET_EVENTS, declare_topology
from shared.settings import Settings

ES_UNREACHABLE = "Elasticsearch not reachable: set ELASTICSEARCH_URL (no Docker engine here to start one)"


def elasticsearch_url() -> str:
    return os.environ.get("ELASTICSEARCH_URL") or os.environ.get("ELASTICSEARCH__URL") or ""


async def elasticsearch_answers(url: str) -> bool:
    client = AsyncElasticsearch(url, request_timeout=3)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.close()


class Broker:
    """A connection to the stack's vhost: publish events, count queues, purge them."""

    def __init__(self, connection: AbstractConnection, channel: AbstractChannel) -> None:
        self.connection = connection
        self.channel = channel

    @classmethod
    async def connect(cls, settings: Settings) -> Broker:
        # Not a robust connection: its channels answer passive declares from a cache (stale counts).
        connection = await aio_pika.connect(settings.rabbitmq.url.get_secret_value())
        channel = await connection.channel(publisher_confirms=True)
        await declare_topology(channel)
        return cls(connection, channel)

    async def publish(
        self, body: bytes | dict[str, Any] | TweetEvent, routing_key: str = "tweet.create"
    ) -> None:
        if isinstance(body, TweetEvent):
            routing_key, body = body.event_type, body.model_dump(mode="json")
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
        exchange = await self.channel.get_exchange(TWEET_EVENTS)
        message = aio_pika.Message(payload, message_id=str(uuid.uuid4()), content_type="application/json")
        await exchange.publish(message, routing_key=routing_key)

    async def queue_state(self, name: str) -> tuple[int, int]:
        """(messages ready, consumers) of a queue."""
        queue = await self.channel.declare_queue(name, passive=True)
        result = queue.declaration_result
        return int(result.message_count or 0), int(result.consumer_count or 0)

    async def purge_search_queues(self) -> None:
        for name in (
            SEARCH_QUEUE,
            QUEUES[SEARCH_QUEUE].dlq,
            SEARCH_USERS_QUEUE,
            QUEUES[SEARCH_USERS_QUEUE].dlq,
        ):
            await (await self.channel.declare_queue(name, passive=True)).purge()

    async def close(self) -> None:
        await self.connection.close()


@dataclass
class SearchStack:
    """One backend with everything around it: the search service, a handle on its index, a broker."""

    kind: str
    settings: Settings
    service: StartedService
    backend: SearchBackend  # a second handle on the service's index, to write and inspect directly
    broker: Broker

    @property
    def client(self) -> httpx.AsyncClient:
        return self.service.client

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.settings.searchservice.grpc_port}"

    async def settle(self) -> None:
        """Make every write so far visible to searches (Elasticsearch refreshes about once a second)."""
        if isinstance(self.backend, ElasticsearchBackend):
            await self.backend.client.indices.refresh(index=self.backend.index)

    async def index(self, *documents: IndexDocument) -> None:
        """Write documents straight into the index, as the worker would, and make them visible."""
        await self.backend.apply(documents)
        await self.settle()

    async def search(self, **params: Any) -> dict[str, Any]:
        response = await self.client.get("/search", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def found_ids(self, q: str, **params: Any) -> list[str]:
        return [hit["id"] for hit in (await self.search(q=q, **params))["results"]]


def with_new_ports(settings: Settings, **updates: Any) -> Settings:
    service = settings.searchservice.model_copy(update={"rest_port": free_port(), "grpc_port": free_port()})
    return settings.model_copy(update={"searchservice": service, **updates})


@contextlib.asynccontextmanager
async def _stack(kind: str, settings: Settings, service: StartedService) -> AsyncIterator[SearchStack]:
    backend = create_backend(settings)
    broker = await Broker.connect(settings)
    try:
        yield SearchStack(kind, settings, service, backend, broker)
    finally:
        await broker.close()
        await backend.close()


@contextlib.asynccontextmanager
async def _postgres_stack(settings: Settings, search_service: StartedService) -> AsyncIterator[SearchStack]:
    if not settings.elasticsearch.url:
        async with _stack("postgresql", settings, search_service) as stack:
            yield stack
        return
    # The session runs the service on Elasticsearch: start one on PostgreSQL beside it.
    postgres = with_new_ports(settings, elasticsearch=settings.elasticsearch.model_copy(update={"url": ""}))
    async with started_service(SPEC, postgres) as service, _stack("postgresql", postgres, service) as stack:
        yield stack


@contextlib.asynccontextmanager
async def _elasticsearch_stack(settings: Settings, url: str) -> AsyncIterator[SearchStack]:
    run_id = secrets.token_hex(4)
    vhost = f"test_search_es_{run_id}"
    create_vhost(vhost)
    amqp = urllib.parse.urlsplit(settings.rabbitmq.url.get_secret_value())
    amqp_url = urllib.parse.urlunsplit((amqp.scheme, amqp.netloc, "/" + vhost, "", ""))
    elastic = with_new_ports(
        settings,
        elasticsearch=settings.elasticsearch.model_copy(
            update={"url": url, "index": f"tweets_test_{run_id}"}
        ),
        rabbitmq=settings.rabbitmq.model_copy(update={"url": SecretStr(amqp_url)}),
    )
    try:
        async with (
            started_service(SPEC, elastic) as service,
            _stack("elasticsearch", elastic, service) as stack,
        ):
            yield stack
            assert isinstance(stack.backend, ElasticsearchBackend)
            await stack.backend.client.options(ignore_status=404).indices.delete(index=stack.backend.index)
    finally:
        delete_vhost(vhost)


@pytest.fixture(scope="session", params=["postgresql", "elasticsearch"])
async def stack(
    request: pytest.FixtureRequest, settings: Settings, search_service: StartedService
) -> AsyncIterator[SearchStack]:
    if request.param == "postgresql":
        async with _postgres_stack(settings, search_service) as value:
            yield value
        return
    url = elasticsearch_url()
    if not url or not await elasticsearch_answers(url):
        pytest.skip(ES_UNREACHABLE)
    async with _elasticsearch_stack(settings, url) as value:
        yield value


@pytest.fixture
async def index(stack: SearchStack) -> SearchStack:
    """The stack with an empty index."""
    await stack.backend.reset()
    return stack


@pytest.fixture
async def worker(index: SearchStack) -> AsyncIterator[SearchStack]:
    """The search worker running in-process on the stack's settings, from an empty queue."""
    async with running_worker(index.settings, index.broker):
        yield index


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, broker: Broker) -> AsyncIterator[None]:
    await broker.purge_search_queues()
    async with worker_running(run, settings, "search-worker-under-test") as task:

        async def consuming() -> bool:
            if task.done():
                task.result()  # surface a crash at start-up
            return (await broker.queue_state(SEARCH_QUEUE))[1] > 0

        await wait_for(consuming, timeout=15)
        yield
    await broker.purge_search_queues()


_clock = datetime(2026, 1, 1, tzinfo=UTC)


def document(
    content: str,
    *,
    tweet_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    created_at: datetime | None = None,
    version_offset: timedelta = timedelta(0),
    deleted: bool = False,
) -> IndexDocument:
    """An index document; its version is its creation time plus `version_offset` (later edits)."""
    created = created_at or _clock
    return IndexDocument(
        id=tweet_id or uuid.uuid4(),
        user_id=user_id or uuid.uuid4(),
        content="" if deleted else content,
        created_at=created,
        version=microseconds(created + version_offset),
        deleted=deleted,
    )


# Events of a fixed clock: a test's create, edit and delete differ only by `edited_after`.
tweet_event = functools.partial(devtools_tweet_event, created_at=_clock)
