"""Who is active: `last-seen:<user id>` holds the Unix time of a user's last authenticated feed
request, to the hour.

The feed service writes it from its auth path: at most one Redis write per user per hour (the touch
script writes only when the stored time is an hour old), and no Redis call at all while this process
has touched the user within the hour. feed_worker reads it in batches and skips the feeds of accounts
unseen for `[FeedWorker] inactive_after_days`; the touch answers the time seen before, so the feed
service knows a returning user's feed missed fan-outs and rebuilds it before answering.

An account never seen (no key) counts as active: fan-out keeps serving accounts that existed before
this was deployed, and an account only becomes inactive after it was seen once. The keys have no
expiry, for the same reason (an expired key would make a long-gone account active again).
"""

from __future__ import annotations

import time
from typing import cast

from redis.asyncio import Redis

from feed.scripts import lua
from feed.slots import ClusterScript, get_many
from shared.lifecycle import is_cluster, redis_outage

LAST_SEEN_PREFIX = "last-seen:"
TOUCH_INTERVAL_SECONDS = 3600.0
DAY_SECONDS = 86_400.0
# Past this many users remembered, the oldest half is forgotten (they cost one more touch each).
MAX_REMEMBERED = 100_000
_TOUCH = lua("touch")


def last_seen_key(user_id: str) -> str:
    return f"{LAST_SEEN_PREFIX}{user_id}"


class Activity:
    """Writes and reads `last-seen:<id>`; `inactive_after_days` <= 0 turns the skipping off."""

    def __init__(self, redis: Redis, inactive_after_days: float) -> None:
        self._redis = redis
        self._inactive_after = inactive_after_days * DAY_SECONDS
        self._touch = ClusterScript(redis, _TOUCH)
        self._cluster = is_cluster(redis)
        self._touched: dict[str, float] = {}

    @property
    def enabled(self) -> bool:
        return self._inactive_after > 0

    async def touch(self, user_id: str) -> float | None:
        """Record an authenticated request. If the user was inactive until now (their feed missed
        fan-outs and must be rebuilt), the time they were last seen; None otherwise."""
        now = time.time()
        if now - self._touched.get(user_id, 0.0) < TOUCH_INTERVAL_SECONDS:
            return None
        async with redis_outage():
            (previous,) = await self._touch.run_grouped(
                [[last_seen_key(user_id)]], [int(now), int(TOUCH_INTERVAL_SECONDS)]
            )
        if len(self._touched) >= MAX_REMEMBERED:
            for old in list(self._touched)[: MAX_REMEMBERED // 2]:
                del self._touched[old]
        self._touched[user_id] = now
        if previous is None or not self._is_inactive(float(cast(str, previous)), now):
            return None
        return float(cast(str, previous))

    async def restore(self, user_id: str, seen_at: float) -> None:
        """Put back an earlier last-seen time (a rebuild failed: the next request must try again)."""
        self._touched.pop(user_id, None)
        async with redis_outage():
            await self._redis.set(last_seen_key(user_id), int(seen_at))

    async def inactive_among(self, user_ids: list[str]) -> set[str]:
        """Those of `user_ids` unseen for `inactive_after_days` (one MGET, or per-key GETs pipelined
        on a Redis Cluster)."""
        if not self.enabled or not user_ids:
            return set()
        keys = [last_seen_key(user_id) for user_id in user_ids]
        async with redis_outage():
            if self._cluster:
                values = await get_many(self._redis, keys)
            else:
                values = cast(list[str | None], await self._redis.mget(keys))
        now = time.time()
        return {
            user_id
            for user_id, value in zip(user_ids, values, strict=True)
            if value is not None and self._is_inactive(float(value), now)
        }

    def inactive_before(self, now: float) -> float | None:
        """Accounts last seen at or before this time are inactive now; None when skipping is off."""
        return now - self._inactive_after if self.enabled else None

    def _is_inactive(self, seen_at: float, now: float) -> bool:
        return self.enabled and now - seen_at >= self._inactive_after
