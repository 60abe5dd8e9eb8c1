"""RabbitMQ down while tweets are posted: every POST still succeeds (the event waits in the outbox,
written in the tweet's own transaction), and once the broker is back every tweet reaches the feeds
and the search index, each once."""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from devtools.testing import Account, wait_for

if TYPE_CHECKING:
    from tests.faults.conftest import FaultyFleet

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

TWEETS = 500
CONCURRENCY = 16


async def post_many(fleet: FaultyFleet, author: Account, contents: list[str]) -> list[httpx.Response]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def post(content: str) -> httpx.Response:
        async with gate:
            return await fleet.http["tweets"].post(
                "/tweet", json={"content": content}, headers=author.headers
            )

    return list(await asyncio.gather(*(post(content) for content in contents)))


async def search_total(fleet: FaultyFleet, word: str) -> int:
    response = await fleet.http["search"].get("/search", params={"q": word, "limit": 1})
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


async def unpublished_events(fleet: FaultyFleet) -> int:
    async with fleet.db("tweets") as connection:
        count: Any = await connection.fetchval(
            "SELECT count(*) FROM outbox WHERE destination = 'rabbitmq' AND published_at IS NULL"
        )
    return int(count)


async def test_tweets_posted_while_rabbitmq_is_down_all_reach_feeds_and_search(fleet: FaultyFleet) -> None:
    author, reader = await fleet.account(), await fleet.account()
    await fleet.follow(reader, author)
    word = f"outage{secrets.token_hex(4)}"

    await fleet.cut("rabbitmq")
    responses = await post_many(fleet, author, [f"{word} tweet number {n}" for n in range(TWEETS)])
    failed = [(response.status_code, response.text) for response in responses if response.status_code != 201]
    assert not failed, f"{len(failed)} POSTs failed while the broker was down: {failed[:3]}"
    posted = {response.json()["id"] for response in responses}
    assert len(posted) == TWEETS
    ready = await fleet.http["tweets"].get("/ready")
    assert ready.status_code == 503 and ready.json()["dependencies"]["rabbitmq"] != "ok", ready.text
    assert await unpublished_events(fleet) >= TWEETS
    assert await fleet.feed(author.id) == []

    await fleet.restore("rabbitmq")

    async def everything_fanned_out() -> bool:
        feeds = [await fleet.feed(author.id), await fleet.feed(reader.id)]
        return all(set(feed) == posted for feed in feeds)

    await wait_for(everything_fanned_out, timeout=90, interval=0.5)
    await wait_for(lambda: _equals(search_total(fleet, word), TWEETS), timeout=60, interval=0.5)
    for user in (author, reader):
        feed = await fleet.feed(user.id)
        assert len(feed) == TWEETS and feed == sorted(feed, reverse=True), "no duplicates, newest first"
    assert await unpublished_events(fleet) == 0
    assert await fleet.dead_letters("general_tweets") == 0
    assert await fleet.dead_letters("search_tweets") == 0


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)
