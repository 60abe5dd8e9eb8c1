"""The outbox relay when a service runs several processes: one relay per destination delivers (the
holder of its advisory lock), in id order, and a standby takes over when the leader goes. And the
waker of the hot write path: a burst shares few NOTIFYs, and none of its rows waits for a poll."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest

from devtools.testing import StartedService, wait_for
from shared.db.raw import raw_pool
from shared.errors import DependencyUnavailable, InvalidInput
from shared.lifecycle import background
from shared.messaging.outbox import (
    NOTIFY_CHANNEL,
    OutboxMessage,
    OutboxRecord,
    RelayWaker,
    message_params,
    with_messages,
)
from shared.messaging.relay import OutboxRelay
from shared.settings import Settings


class Recorder:
    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def __call__(self, records: Sequence[OutboxRecord]) -> None:
        self.delivered.extend(record.message_id for record in records)


@pytest.fixture
async def pool(settings: Settings, tweets_service: StartedService) -> AsyncIterator[asyncpg.Pool]:
    async with raw_pool(settings.database, settings.tweetservice.database) as value:
        yield value


@pytest.fixture
def destination() -> str:
    return f"test.relay.{uuid.uuid4().hex[:8]}"


async def _enqueue(pool: asyncpg.Pool, destination: str, count: int) -> list[str]:
    ids = [f"m{index:04d}-{uuid.uuid4().hex[:6]}" for index in range(count)]
    async with pool.acquire() as connection:
        await connection.executemany(
            "INSERT INTO outbox (destination, message_id, payload) VALUES ($1, $2, '{}'::jsonb)",
            [(destination, message_id) for message_id in ids],
        )
        await connection.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, destination)
    return ids


def _relay(settings: Settings, pool: asyncpg.Pool, destination: str, recorder: Recorder) -> OutboxRelay:
    dsn = settings.database.dsn(settings.tweetservice.database)
    return OutboxRelay(pool, dsn, destination, recorder, batch_size=7, poll_seconds=0.2)


async def test_one_of_several_relays_delivers_in_order_and_a_standby_takes_over(
    settings: Settings, pool: asyncpg.Pool, destination: str
) -> None:
    first, second = Recorder(), Recorder()
    relays = [_relay(settings, pool, destination, first), _relay(settings, pool, destination, second)]
    async with contextlib.AsyncExitStack() as stack:
        stops = [
            await stack.enter_async_context(background(f"relay-{i}", r.run)) for i, r in enumerate(relays)
        ]
        await wait_for(lambda: sum(relay.leading for relay in relays) == 1, timeout=10)
        sent = await _enqueue(pool, destination, 40)
        await wait_for(lambda: len(first.delivered) + len(second.delivered) >= 40, timeout=10)
        leader = 0 if relays[0].leading else 1
        recorders = (first, second)
        assert recorders[leader].delivered == sent  # all of them, in id order, by the leader alone
        assert recorders[1 - leader].delivered == []

        stops[leader].set()  # the leader stops; its LISTEN connection (and lock) go with it
        await wait_for(lambda: relays[1 - leader].leading, timeout=10)
        later = await _enqueue(pool, destination, 15)
        await wait_for(lambda: recorders[1 - leader].delivered == later, timeout=10)
        assert recorders[leader].delivered == sent
    async with pool.acquire() as connection:
        pending = await connection.fetchval(
            "SELECT count(*) FROM outbox WHERE destination = $1 AND published_at IS NULL", destination
        )
        await connection.execute("DELETE FROM outbox WHERE destination = $1", destination)
    assert pending == 0


async def test_a_burst_of_writes_shares_few_notifications_and_every_row_still_wakes_the_relay(
    settings: Settings, pool: asyncpg.Pool, destination: str
) -> None:
    dsn = settings.database.dsn(settings.tweetservice.database)
    recorder = Recorder()
    # A poll far longer than the test: only a NOTIFY can get the rows delivered in time.
    relay = OutboxRelay(pool, dsn, destination, recorder, batch_size=500, poll_seconds=120)
    waker = RelayWaker(pool, window_seconds=0.05)
    statements = {notify: with_messages("SELECT 1", 0, notify=notify) for notify in (True, False)}
    heard: list[str] = []
    listener = await asyncpg.connect(dsn)
    await listener.add_listener(NOTIFY_CHANNEL, lambda *args: heard.append(args[3]))
    try:
        async with background("relay", relay.run):
            await wait_for(lambda: relay.leading, timeout=10)
            sent = []
            for index in range(30):
                message = OutboxMessage(destination, {"n": index}, message_id=f"burst-{index:02d}")
                notify = waker.notify_inline()
                async with pool.acquire() as connection:
                    await connection.execute(statements[notify], *message_params([message]))
                if not notify:
                    waker.committed_quietly([destination])
                sent.append(message.message_id)
            await wait_for(lambda: recorder.delivered == sent, timeout=10)
        await waker.close()
    finally:
        await listener.close()
        async with pool.acquire() as connection:
            await connection.execute("DELETE FROM outbox WHERE destination = $1", destination)
    ours = [payload for payload in heard if destination in payload.split(",")]
    assert 1 <= len(ours) <= 10, f"{len(ours)} notifications for 30 writes in a burst"


class Refusing(Recorder):
    """Refuses any batch holding a poisoned row (as a destination validating the batch as a whole
    does), and fails the first `outages` calls as if the destination were down."""

    def __init__(self, poisoned: set[str], outages: int = 0) -> None:
        super().__init__()
        self.poisoned = poisoned
        self.outages = outages

    async def __call__(self, records: Sequence[OutboxRecord]) -> None:
        if self.outages:
            self.outages -= 1
            raise DependencyUnavailable("destination is unavailable")
        if any(record.message_id in self.poisoned for record in records):
            raise InvalidInput("refused")
        await super().__call__(records)


async def test_a_refused_batch_is_split_and_only_the_rows_refused_alone_are_parked(
    settings: Settings, pool: asyncpg.Pool, destination: str
) -> None:
    async with pool.acquire() as connection:  # the first row of the batch, refused too
        await connection.execute(
            "INSERT INTO outbox (destination, message_id, payload) VALUES ($1, 'zz-odd', '[]'::jsonb)",
            destination,
        )
    sent = await _enqueue(pool, destination, 30)
    poisoned = {sent[3], sent[17]}
    recorder = Refusing(poisoned | {"zz-odd"}, outages=2)
    relay = OutboxRelay(
        pool, settings.database.dsn(settings.tweetservice.database), destination, recorder, batch_size=50
    )
    try:
        async with background("relay", relay.run):
            await wait_for(lambda: len(recorder.delivered) == 28, timeout=10)
            await wait_for(lambda: relay.state() == "delivering, 3 parked", timeout=5)
        # Everything else, in id order; the outages were retried whole, nothing parked for them.
        assert recorder.delivered == [message_id for message_id in sent if message_id not in poisoned]
        async with pool.acquire() as connection:
            parked = await connection.fetch(
                "SELECT message_id, last_error FROM outbox WHERE destination = $1 AND parked_at IS NOT NULL"
                " ORDER BY id",
                destination,
            )
            pending = await connection.fetchval(
                "SELECT count(*) FROM outbox WHERE destination = $1 AND published_at IS NULL AND parked_at IS NULL",
                destination,
            )
    finally:
        async with pool.acquire() as connection:
            await connection.execute("DELETE FROM outbox WHERE destination = $1", destination)
    assert [row["message_id"] for row in parked] == ["zz-odd", sent[3], sent[17]]
    assert {row["last_error"] for row in parked} == {"InvalidInput: refused"}
    assert pending == 0
