"""Retrying with capped exponential backoff for the loops that outlast a dependency's outage (the
consumer, the outbox relay): one tenacity policy whose sleeps end as soon as the process stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never, wait_exponential
from tenacity.retry import retry_base
from tenacity.stop import stop_base

logger = logging.getLogger(__name__)


class Stopped(Exception):
    """Raised out of a `retrying` loop when the process stops during a backoff sleep."""


async def sleep_unless_stopped(
    stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None
) -> bool:
    """Sleep `seconds`, ending early when `stop` (or `wake`) is set; False if `stop` ended it."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return not stop.is_set()


def retrying(
    stop: asyncio.Event,
    *,
    base_seconds: float,
    max_seconds: float,
    retry: retry_base | Callable[[RetryCallState], bool] = retry_if_exception_type(Exception),
    give_up: stop_base = stop_never,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> AsyncRetrying:
    """Attempts (`async for attempt in retrying(...): with attempt: ...`) waiting base, 2*base, ...
    up to max_seconds between them. The last failure is re-raised when `retry` refuses it or
    `give_up` says so; `Stopped` is raised when `stop` is set during a wait."""

    async def sleep(seconds: float) -> None:
        if not await sleep_unless_stopped(stop, seconds):
            raise Stopped

    return AsyncRetrying(
        sleep=sleep,
        wait=wait_exponential(multiplier=base_seconds, max=max_seconds),
        retry=retry,
        stop=give_up,
        reraise=True,
        before_sleep=before_sleep,
    )
