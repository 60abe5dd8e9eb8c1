"""Rate limits kept in Redis (every replica shares them), with a moving window: no 2x burst at a
window boundary as fixed windows allow. The `limits` library's async Redis storage does the counting.

When the limiter's store is unreachable:
- login fails closed (503 problem+json): an outage of the limiter must not open a brute-force window;
- every other limited route fails open (the request goes through, the failure is logged): an outage
  of Redis must not take registrations, writes or searches down with it.

The client address is the socket peer. `X-Forwarded-For` is read only when the peer is one of
`[RateLimit] trusted_proxies` (default: none), and then the address is the nearest one in the header
that is not itself a trusted proxy, so a client cannot pick its own address.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from shared.auth import CurrentUser, TokenClaims
from shared.errors import DependencyUnavailable, RateLimited
from shared.settings import RateLimitSettings, RedisSettings
from shared.wiring import Limiting, wiring_of

logger = logging.getLogger(__name__)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RateLimiter:
    def __init__(self, redis: RedisSettings, settings: RateLimitSettings) -> None:
        self.settings = settings
        self.enabled = settings.enabled
        self._proxies: list[Network] = [
            ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies
        ]
        # On a Redis Cluster the library's cluster storage keeps each window's keys in one slot.
        storage_class = RedisClusterStorage if redis.cluster else RedisStorage
        url = (
            redis.url.replace("redis://", "redis+cluster://", 1).rsplit("/", 1)[0]
            if redis.cluster
            else redis.url
        )
        storage = storage_class(
            "async+" + url,
            wrap_exceptions=True,
            implementation="redispy",
            key_prefix="ratelimit",
            socket_timeout=redis.socket_timeout,
            socket_connect_timeout=redis.socket_timeout,
        )
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, scope: str, subject: str, per_minute: int, *, fail_closed: bool = False) -> None:
        """Count one request of `subject` in `scope`; RateLimited (429) past `per_minute` in the
        last minute. A store outage is a 503 if `fail_closed`, otherwise the request goes through."""
        if not self.enabled:
            return
        item = RateLimitItemPerMinute(per_minute)
        try:
            allowed = await self._limiter.hit(item, scope, subject)
        except StorageError as exc:
            self._outage(scope, exc, fail_closed)
            return
        if not allowed:
            await self._refuse(item, scope, subject)

    async def check(self, scope: str, subject: str, per_minute: int, *, fail_closed: bool = False) -> None:
        """RateLimited if `subject` is already past the limit; counts nothing (failures are
        counted with `hit` once they happened)."""
        if not self.enabled:
            return
        item = RateLimitItemPerMinute(per_minute)
        try:
            allowed = await self._limiter.test(item, scope, subject)
        except StorageError as exc:
            self._outage(scope, exc, fail_closed)
            return
        if not allowed:
            await self._refuse(item, scope, subject)

    def _outage(self, scope: str, exc: StorageError, fail_closed: bool) -> None:
        if fail_closed:
            raise DependencyUnavailable("the rate limiter is unavailable", dependency="redis") from exc
        logger.warning("rate limiter unavailable (%s); allowing %s", exc.storage_error, scope)

    async def _refuse(self, item: RateLimitItemPerMinute, scope: str, subject: str) -> None:
        try:
            reset = (await self._limiter.get_window_stats(item, scope, subject)).reset_time
            retry_after = min(max(math.ceil(reset - time.time()), 1), 60)
        except StorageError:
            retry_after = 60
        raise RateLimited(
            f"too many {scope} requests; retry in {retry_after}s", retry_after_seconds=retry_after
        )

    def client_address(self, request: Request) -> str:
        peer = request.client.host if request.client else "unknown"
        forwarded = request.headers.get("x-forwarded-for")
        if not forwarded or not self._trusted(peer):
            return peer
        for hop in reversed([part.strip() for part in forwarded.split(",")]):
            if not self._trusted(hop):
                return hop
        return peer

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._proxies)


async def _limiter(request: Request) -> RateLimiter:
    # async: FastAPI would run a plain function in its thread pool.
    return wiring_of(request.app, Limiting).rate_limiter


Limiter = Annotated[RateLimiter, Depends(_limiter)]
"""The service's rate limiter (users, tweets, search), for a route that counts more than one limit."""


async def _limited_writer(limiter: Limiter, caller: CurrentUser) -> TokenClaims:
    await limiter.hit("writes", str(caller.user_id), limiter.settings.writes_per_minute)
    return caller


LimitedWriter = Annotated[TokenClaims, Depends(_limited_writer)]
"""The authenticated caller of a write, counted against the per-user "writes" limit (users, tweets)."""


def per_address(scope: str, limit: Callable[[RateLimitSettings], int]) -> Callable[..., Awaitable[None]]:
    """A dependency counting each request against `limit` per client address (fails open)."""

    async def dependency(request: Request, limiter: Limiter) -> None:
        await limiter.hit(scope, limiter.client_address(request), limit(limiter.settings))

    return dependency
