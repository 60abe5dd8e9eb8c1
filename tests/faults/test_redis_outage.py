"""Redis down: feed reads answer 503 problem+json (not 500, not a hang), the feed worker keeps the
tweet.create messages and retries them, and once Redis is back every tweet is in every feed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from devtools.testing import assert_problem, wait_for

if TYPE_CHECKING:
    from tests.faults.conftest import FaultyFleet

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


async def test_feed_reads_answer_503_while_redis_is_down(fleet: FaultyFleet) -> None:
    reader = await fleet.account()

    await fleet.cut("redis")
    body = assert_problem(await fleet.http["feed"].get("/feed", headers=reader.headers), 503)
    assert "redis" in body["detail"].lower()
    ready = await fleet.http["feed"].get("/ready")
    assert ready.status_code == 503 and ready.json()["dependencies"]["redis"] != "ok", ready.text

    await fleet.restore("redis")
    await wait_for(lambda: _feed_answers(fleet, reader.headers), timeout=30, interval=0.2)


async def test_fanout_during_a_redis_outage_completes_once_redis_is_back(fleet: FaultyFleet) -> None:
    author, reader = await fleet.account(), await fleet.account()
    await fleet.follow(reader, author)
    worker = fleet.pid("feed_worker")

    mark = fleet.log_mark()
    await fleet.cut("redis")
    posted = [(await fleet.post(author, f"written while redis is away {n}"))["id"] for n in range(5)]
    await fleet.retried("general_tweets", since=mark)
    assert_problem(await fleet.http["feed"].get("/feed", headers=reader.headers), 503)
    assert await fleet.feed(reader.id) == []

    await fleet.restore("redis")

    async def fanned_out() -> bool:
        # The reader's feed alone could be filled by the follow's backfill: wait for the author's too.
        return [await fleet.feed(user.id) for user in (author, reader)] == [posted[::-1]] * 2

    await wait_for(fanned_out, timeout=30, interval=0.2)
    response = await fleet.http["feed"].get("/feed", headers=reader.headers)
    assert response.status_code == 200 and [t["id"] for t in response.json()["tweets"]] == posted[::-1]
    assert await fleet.dead_letters("general_tweets") == 0
    assert fleet.pid("feed_worker") == worker, "recovered without a restart"


async def _feed_answers(fleet: FaultyFleet, headers: dict[str, str]) -> bool:
    return (await fleet.http["feed"].get("/feed", headers=headers)).status_code == 200
