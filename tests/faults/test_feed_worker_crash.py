"""A feed worker killed in the middle of a 10,000-follower fan-out loses nothing and duplicates nothing:
the unacked tweet.create goes back to general_tweets and the restarted worker redoes the fan-out,
which is idempotent per feed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from devtools.testing import wait_for

if TYPE_CHECKING:
    from tests.faults.conftest import FaultyFleet

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

FOLLOWERS = 10_000
SAMPLES = 100


async def feeds_holding(fleet: FaultyFleet, user_ids: list[str], tweet_id: str) -> int:
    """How many of these feeds contain the tweet."""
    async with fleet.redis.pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.lpos(f"feed:{user_id}", tweet_id)
        found = await pipe.execute()
    return sum(position is not None for position in found)


async def kill_worker_mid_fanout(fleet: FaultyFleet, sample: list[str], tweet_id: str) -> bool:
    """SIGKILL the feed worker as soon as some, not all, sampled feeds hold the tweet.

    Returns False when the fan-out finished before it could be caught half-way.
    """
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        holding = await feeds_holding(fleet, sample, tweet_id)
        if 0 < holding < len(sample):
            await fleet.kill("feed_worker")
            return True
        if holding == len(sample):
            return False
        await asyncio.sleep(0.002)
    raise AssertionError("the fan-out did not start within 60s")


async def test_killed_feed_worker_leaves_every_follower_with_the_tweet_exactly_once(
    fleet: FaultyFleet,
) -> None:
    author = await fleet.account()
    followers = await fleet.add_followers(author, FOLLOWERS)
    sample = followers[:: FOLLOWERS // SAMPLES]

    posted: list[str] = []
    for attempt in range(5):
        tweet = await fleet.post(author, f"news for ten thousand, take {attempt}")
        posted.append(tweet["id"])
        if await kill_worker_mid_fanout(fleet, sample, tweet["id"]):
            break
    else:
        pytest.fail("every fan-out finished before the worker could be killed half-way")

    interrupted = posted[-1]
    fanned_out = await feeds_holding(fleet, followers, interrupted)
    assert 0 < fanned_out < FOLLOWERS, "the worker died in the middle of the fan-out"

    await fleet.restart("feed_worker")

    async def all_delivered() -> bool:
        return await feeds_holding(fleet, followers, interrupted) == FOLLOWERS

    await wait_for(all_delivered, timeout=90, interval=0.2)
    newest_first = list(reversed(posted))
    async with fleet.redis.pipeline(transaction=False) as pipe:
        for user_id in [*followers, str(author.id)]:
            pipe.lrange(f"feed:{user_id}", 0, -1)
        feeds = await pipe.execute()
    wrong = [feed for feed in feeds if feed != newest_first]
    assert not wrong, f"{len(wrong)} feeds differ from {newest_first}, e.g. {wrong[:3]}"
    assert await fleet.dead_letters("general_tweets") == 0
