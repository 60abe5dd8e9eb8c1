"""Knowing when tweets have reached every follower's feed, without slowing the fan-out down.

The cheap signal: the feed written last (fan-out walks follower pages in id order, so it is the
follower with the highest id) is polled every few milliseconds. Once it holds the tweets, ONE
server-side check confirms every other feed does too; feeds still missing something (if the
fan-out order ever changes) are polled until complete, and the time is taken then.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import redis.exceptions
from redis.asyncio import Redis

# KEYS: feeds; ARGV[1]: how deep to look; ARGV[2..]: tweet ids. Returns the feeds missing one of them.
_MISSING = """
local depth = tonumber(ARGV[1])
local missing = {}
for i = 1, #KEYS do
  local present = {}
  for _, item in ipairs(redis.call('LRANGE', KEYS[i], 0, depth - 1)) do present[item] = true end
  for j = 2, #ARGV do
    if not present[ARGV[j]] then
      missing[#missing + 1] = KEYS[i]
      break
    end
  end
end
return missing
"""
BATCH = 2000
# Harness clients wait this long for an answer: fan-out scripts can keep Redis busy for seconds.
SOCKET_TIMEOUT_SECONDS = 60.0


def harness_redis(url: str) -> Redis:
    return Redis.from_url(url, decode_responses=True, socket_timeout=SOCKET_TIMEOUT_SECONDS)


class FeedWatcher:
    def __init__(self, redis: Redis, feeds: Sequence[str], sentinel: str) -> None:
        self._redis = redis
        self._feeds = list(feeds)
        self._sentinel = sentinel
        self._missing = redis.register_script(_MISSING)

    async def missing(self, feeds: Sequence[str], tweet_ids: Sequence[str], depth: int) -> list[str]:
        result: list[str] = []
        for start in range(0, len(feeds), BATCH):
            batch = feeds[start : start + BATCH]
            result.extend(await self._missing(keys=batch, args=[depth, *tweet_ids]))
        return result

    async def wait_all(
        self, tweet_ids: Sequence[str], poll_seconds: float = 0.002, timeout: float = 60.0, depth: int = 0
    ) -> float:
        """Block until every feed holds every tweet id; returns time.perf_counter() of that moment."""
        depth = depth or len(tweet_ids) + 50
        deadline = time.perf_counter() + timeout
        wanted = set(tweet_ids)
        while True:
            try:
                head = set(await self._redis.lrange(self._sentinel, 0, depth - 1))
            except redis.exceptions.TimeoutError:
                head = set()  # Redis busy with a long script: keep waiting, up to the deadline
            if wanted <= head:
                break
            self._check(deadline, "the last follower's feed")
            await asyncio.sleep(poll_seconds)
        done_at = time.perf_counter()
        pending = await self.missing(self._feeds, list(tweet_ids), depth)
        while pending:
            self._check(deadline, f"{len(pending)} feeds")
            await asyncio.sleep(max(poll_seconds, 0.005))
            pending = await self.missing(pending, list(tweet_ids), depth)
            done_at = time.perf_counter()
        return done_at

    @staticmethod
    def _check(deadline: float, what: str) -> None:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"tweets did not reach {what} in time")
