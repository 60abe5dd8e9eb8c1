"""The write path end to end: tweet events through RabbitMQ into the index, and the reindex."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from devtools.fixtures import consumer_retries, engine_of, outbox_drained, retried
from devtools.tcp_proxy import TcpProxy
from devtools.testing import StartedService, register_and_login, wait_for
from search.backends import UserDocument
from search_worker.main import reindex
from shared.messaging.topology import QUEUES, SEARCH_QUEUE
from shared.settings import Settings

from .conftest import Broker, SearchStack, document, running_worker, tweet_event

DLQ = QUEUES[SEARCH_QUEUE].dlq


async def shows(stack: SearchStack, q: str, expected: list[str]) -> bool:
    return await stack.found_ids(q) == expected


async def test_tweet_events_from_the_broker_become_searchable(worker: SearchStack) -> None:
    ids = {"tweet_id": uuid.uuid4(), "user_id": uuid.uuid4()}

    await worker.broker.publish(tweet_event("tweet.create", content="launching rockets today", **ids))
    await wait_for(lambda: shows(worker, "rockets", [str(ids["tweet_id"])]))

    await worker.broker.publish(
        tweet_event("tweet.update", content="landing boosters", edited_after=timedelta(minutes=1), **ids)
    )
    await wait_for(lambda: shows(worker, "boosters", [str(ids["tweet_id"])]))
    assert await worker.found_ids("rockets") == []

    await worker.broker.publish(
        tweet_event("tweet.delete", content="landing boosters", edited_after=timedelta(minutes=2), **ids)
    )
    await wait_for(lambda: shows(worker, "boosters", []))


async def test_a_burst_of_events_is_indexed_completely(worker: SearchStack) -> None:
    for n in range(60):
        await worker.broker.publish(
            tweet_event(
                "tweet.create", content=f"burst message {n}", tweet_id=uuid.uuid4(), user_id=uuid.uuid4()
            )
        )

    async def all_indexed() -> bool:
        return (await worker.search(q="burst", limit=1))["total"] == 60

    await wait_for(all_indexed, timeout=20)


async def test_late_create_after_delete_through_the_queue_stays_deleted(worker: SearchStack) -> None:
    ids = {"tweet_id": uuid.uuid4(), "user_id": uuid.uuid4()}
    sentinel = uuid.uuid4()

    await worker.broker.publish(
        tweet_event("tweet.delete", content="ghost story", edited_after=timedelta(minutes=1), **ids)
    )
    await worker.broker.publish(tweet_event("tweet.create", content="ghost story", **ids))
    await worker.broker.publish(
        tweet_event("tweet.create", content="sentinel ghost", tweet_id=sentinel, user_id=uuid.uuid4())
    )

    # Messages are indexed in delivery order: once the last one shows, the first two were applied.
    await wait_for(lambda: shows(worker, "sentinel", [str(sentinel)]))
    assert await worker.found_ids("ghost") == [str(sentinel)]


async def test_malformed_messages_are_dead_lettered_and_the_worker_goes_on(worker: SearchStack) -> None:
    valid = uuid.uuid4()
    malformed: list[bytes | dict[str, Any]] = [
        b"not json at all",
        b"[1, 2, 3]",
        {"event_type": "tweet.create", "tweet_id": str(uuid.uuid4())},
        tweet_event("tweet.create", content="x", tweet_id=uuid.uuid4(), user_id=uuid.uuid4()).model_dump(
            mode="json"
        )
        | {"event_type": "tweet.explode"},
    ]
    for body in malformed:
        await worker.broker.publish(body)
    await worker.broker.publish(
        tweet_event("tweet.create", content="still indexing fine", tweet_id=valid, user_id=uuid.uuid4())
    )

    async def dead_lettered() -> bool:
        return (await worker.broker.queue_state(DLQ))[0] == len(malformed)

    await wait_for(dead_lettered)
    await wait_for(lambda: shows(worker, "indexing", [str(valid)]))


def _through(proxy: TcpProxy, stack: SearchStack) -> Settings:
    """The stack's settings with the index reached through `proxy`."""
    settings = stack.settings
    if stack.kind == "elasticsearch":
        elastic = settings.elasticsearch.model_copy(update={"url": f"http://127.0.0.1:{proxy.port}"})
        return settings.model_copy(update={"elasticsearch": elastic})
    database = settings.database.model_copy(update={"host": "127.0.0.1", "port": proxy.port})
    return settings.model_copy(update={"database": database})


def _backend_address(stack: SearchStack) -> tuple[str, int]:
    if stack.kind == "elasticsearch":
        url = httpx.URL(stack.settings.elasticsearch.url)
        return url.host, url.port or 9200
    return stack.settings.database.host, stack.settings.database.port


async def test_index_outage_keeps_messages_until_the_index_is_back(index: SearchStack) -> None:
    proxy = TcpProxy(*_backend_address(index))  # not started yet: the index is "down"
    tweet_id = uuid.uuid4()
    retries = consumer_retries(SEARCH_QUEUE)
    async with running_worker(_through(proxy, index), index.broker):
        await index.broker.publish(
            tweet_event("tweet.create", content="patience pays off", tweet_id=tweet_id, user_id=uuid.uuid4())
        )
        await retried(SEARCH_QUEUE, 2, since=retries)  # the worker met the outage, twice
        assert await index.found_ids("patience") == []
        assert (await index.broker.queue_state(DLQ))[0] == 0

        await proxy.start()
        try:
            await wait_for(lambda: shows(index, "patience", [str(tweet_id)]), timeout=20)
        finally:
            await proxy.stop()


async def _tweet(client: httpx.AsyncClient, headers: dict[str, str], content: str) -> str:
    response = await client.post("/tweet", json={"content": content}, headers=headers)
    assert response.status_code == 201, response.text
    tweet_id: str = response.json()["id"]
    return tweet_id


async def test_reindex_rebuilds_the_index_from_the_tweets_service(
    index: SearchStack, settings: Settings, users_service: StartedService, tweets_service: StartedService
) -> None:
    account = await register_and_login(users_service.client)
    tweets, headers = tweets_service.client, account.headers
    try:
        kept = await _tweet(tweets, headers, "rebuilding indexes from scratch #Rebuild")
        edited = await _tweet(tweets, headers, "draft wording")
        response = await tweets.patch(
            f"/tweet/{edited}", json={"content": "polished wording"}, headers=headers
        )
        assert response.status_code == 200, response.text
        gone = await _tweet(tweets, headers, "deleted musings")
        assert (await tweets.delete(f"/tweet/{gone}", headers=headers)).status_code == 204
        await index.index(document("stale entry nobody wrote"))

        await index.backend.apply_users([UserDocument(uuid.uuid4(), "stale_account", "", 0, 1)])

        indexed, accounts = await reindex(index.settings)
        await index.settle()

        assert indexed >= 2 and accounts >= 1
        assert await index.found_ids("rebuilding") == [kept]
        assert await index.found_ids("#rebuild") == [kept]
        found = (await index.client.get("/search/users", params={"q": account.username})).json()
        assert [user["id"] for user in found["results"]] == [str(account.id)]
        stale = (await index.client.get("/search/users", params={"q": "stale_account"})).json()
        assert stale["results"] == []
        assert await index.found_ids("wording") == [edited]
        assert await index.found_ids("polished", user_id=str(account.id)) == [edited]
        assert await index.found_ids("draft") == []
        assert await index.found_ids("musings") == []
        assert await index.found_ids("stale") == []
    finally:
        await _forget(account.id, users_service, tweets_service, settings)


async def _forget(
    user_id: uuid.UUID, users: StartedService, tweets: StartedService, settings: Settings
) -> None:
    """Remove what the reindex test wrote to the other services and their queues."""
    for service, statement in (
        (tweets, "DELETE FROM tweets WHERE user_id = :id"),
        (users, "DELETE FROM actors WHERE id = :id"),
    ):
        assert service.engine is not None
        async with service.engine.begin() as connection:
            await connection.execute(text(statement), {"id": user_id})
    # This test's events are published before the purge, so none reaches the next test.
    for service in (tweets, users):
        await outbox_drained(engine_of(service))
    broker = await Broker.connect(settings)
    try:
        await broker.purge_search_queues()
    finally:
        await broker.close()
