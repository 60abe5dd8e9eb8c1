"""RelayWaker: at most one NOTIFY per window; writes within it share one NOTIFY sent after it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

import asyncpg

from shared.messaging.outbox import NOTIFY_CHANNEL, RelayWaker


class RecordingPool:
    """Stands in for the asyncpg pool: records the statements the waker sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []
        self.event = asyncio.Event()

    @contextlib.asynccontextmanager
    async def acquire(self, timeout: float) -> AsyncIterator[RecordingPool]:
        yield self

    async def execute(self, *args: Any) -> None:
        self.sent.append(args)
        self.event.set()


def _waker(pool: RecordingPool, window: float) -> RelayWaker:
    return RelayWaker(cast(asyncpg.Pool, pool), window_seconds=window)


async def test_the_first_write_of_a_quiet_window_notifies_inline_and_the_next_ones_do_not() -> None:
    waker = _waker(RecordingPool(), window=60)
    assert waker.notify_inline() is True
    assert [waker.notify_inline() for _ in range(5)] == [False] * 5


async def test_quiet_writes_share_one_notify_sent_at_the_end_of_the_window() -> None:
    pool = RecordingPool()
    waker = _waker(pool, window=0.05)
    waker.notify_inline()
    for destinations in (["rabbitmq"], ["user-counters"], ["rabbitmq"]):
        assert waker.notify_inline() is False
        waker.committed_quietly(destinations)
    assert pool.sent == []  # the window has not ended yet
    async with asyncio.timeout(2):
        await pool.event.wait()
    await waker.close()
    assert pool.sent == [("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, "rabbitmq,user-counters")]


async def test_close_sends_what_is_pending_at_once() -> None:
    pool = RecordingPool()
    waker = _waker(pool, window=60)
    waker.notify_inline()
    waker.committed_quietly(["rabbitmq"])
    await waker.close()
    assert pool.sent == [("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, "rabbitmq")]
