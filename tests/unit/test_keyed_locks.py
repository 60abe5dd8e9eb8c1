"""KeyedLocks: one FIFO lock per key, forgotten once nobody holds or waits for it."""

from __future__ import annotations

import asyncio

from feed_worker.fanout import KeyedLocks


async def test_holders_of_one_key_run_one_at_a_time_in_arrival_order() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    inside = 0

    async def hold(name: str) -> None:
        nonlocal inside
        async with locks.hold("alice"):
            inside += 1
            assert inside == 1
            order.append(name)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(hold(str(i)) for i in range(10)))
    assert order == [str(i) for i in range(10)]
    assert locks._locks == {}


async def test_different_keys_do_not_wait_for_each_other() -> None:
    locks = KeyedLocks()
    released = asyncio.Event()

    async def hold_until_released() -> None:
        async with locks.hold("alice"):
            await released.wait()

    holder = asyncio.create_task(hold_until_released())
    await asyncio.sleep(0)
    async with asyncio.timeout(1), locks.hold("bob"):  # would hang if keys shared a lock
        pass
    released.set()
    await holder
    assert locks._locks == {}


async def test_a_holder_that_raises_releases_the_key() -> None:
    locks = KeyedLocks()
    try:
        async with locks.hold("alice"):
            raise RuntimeError("handler failed")
    except RuntimeError:
        pass
    async with asyncio.timeout(1), locks.hold("alice"):
        pass
    assert locks._locks == {}
