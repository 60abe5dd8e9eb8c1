"""Fixed-window rate limits kept in Redis, so every replica of a service shares them."""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import RateLimited

logger = logging.getLogger(__name__)


class RateLimiter:
    def __init__(self, redis: Redis, enabled: bool = True, prefix: str = "ratelimit") -> None:
        self._redis = redis
        self._enabled = enabled
        self._prefix = prefix

    async def hit(self, scope: str, subject: str, limit: int, window_seconds: int = 60) -> None:
        """Count one request of `subject` in `scope`; raise RateLimited (429) past `limit` per window.

        If Redis is down the request is let through: an outage of the limiter must not take
        logins down with it (the failure is logged).
        """
        if not self._enabled:
            return
        window = int(time.time()) // window_seconds
        key = f"{self._prefix}:{scope}:{subject}:{window}"
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, window_seconds + 1)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            logger.warning("rate limiter unavailable (%s); allowing %s", exc, scope)
            return
        if int(count) > limit:
            retry_after = window_seconds - int(time.time()) % window_seconds
            raise RateLimited(
                f"too many {scope} requests; retry in {retry_after}s", retry_after_seconds=retry_after
            )
