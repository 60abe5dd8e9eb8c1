"""The counter relay's deliverer against the real users gRPC server: one IncrementTweetsBatch call
per relay batch, in outbox order, each row applied once, unknown accounts and bad ids dropped, a
users that cannot be reached raising (so the relay retries), and the one-call-per-row fallback."""

from __future__ import annotations

import logging
import secrets
import socket
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from devtools.fixtures import AccountFactory
from devtools.testing import Account, StartedService, wait_for
from fleet_proto import user_service_pb2 as users_pb
from fleet_proto import user_service_pb2_grpc
from shared.errors import DependencyUnavailable, InvalidInput
from shared.grpc.channels import open_channel
from shared.grpc.server import grpc_server
from shared.ids import uuid7
from shared.messaging.outbox import OutboxRecord
from shared.settings import Settings
from shared.wiring import Writing, wiring_of
from tweets.author_counters import DESTINATION, MAX_BATCH, increment_tweets_deliverer
from users.grpc_servicer import SERVICE_NAME, UserServicer

_serial = iter(range(1, 1_000_000))


def _record(user_id: object, delta: int) -> OutboxRecord:
    """An outbox row as the relay hands it over, written in a trace of its own."""
    traceparent = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
    return OutboxRecord(
        id=next(_serial),
        destination=DESTINATION,
        exchange="",
        routing_key="",
        message_id=str(uuid7()),
        body=orjson.dumps({"user_id": str(user_id), "delta": delta}),
        headers={"traceparent": traceparent},
        attempts=0,
    )


def _trace_id(record: OutboxRecord) -> int:
    return int(record.headers["traceparent"].split("-")[1], 16)


@pytest.fixture
async def users_stub(
    settings: Settings, users_service: StartedService
) -> AsyncIterator[user_service_pb2_grpc.UserAsyncStub]:
    """A stub on a channel built as tweets builds it (deadlines, domain errors)."""
    channel = open_channel(settings.userservice.grpc_target, "users", 5.0, settings.internal.service_token)
    yield user_service_pb2_grpc.UserStub(channel)
    await channel.close(None)


async def _num_tweets(stub: user_service_pb2_grpc.UserAsyncStub, account: Account) -> int:
    reply = await stub.GetUser(users_pb.GetUserRequest(user_id=str(account.id)))
    return int(reply.num_tweets)


def _server_calls(spans: InMemorySpanExporter, method: str) -> int:
    return sum(
        1
        for span in spans.get_finished_spans()
        if span.kind == SpanKind.SERVER and span.name == f"/user_service.User/{method}"
    )


async def test_one_batch_call_counts_many_tweets_in_order_and_once(
    users_stub: user_service_pb2_grpc.UserAsyncStub,
    accounts: AccountFactory,
    finished_spans: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice, bob = await accounts(), await accounts()
    records = [_record(alice.id, -1)]  # clamped: alice starts at zero and stays there
    for i in range(100):
        records.append(_record(alice.id, 1))
        if i % 3 == 0:
            records.append(_record(bob.id, 1))
        if i % 5 == 0:
            records.append(_record(alice.id, -1))
    ghost = _record(uuid7(), 1)
    records[50:50] = [ghost]
    assert len(records) == 156
    deliver = increment_tweets_deliverer(users_stub)

    with caplog.at_level(logging.WARNING, logger="tweets.author_counters"):
        await deliver(records)

    assert (await _num_tweets(users_stub, alice), await _num_tweets(users_stub, bob)) == (80, 34)
    assert _server_calls(finished_spans, "IncrementTweetsBatch") == 1
    assert _server_calls(finished_spans, "IncrementTweets") == 0
    dropped = [r.getMessage() for r in caplog.records if "dropping num_tweets change" in r.getMessage()]
    assert dropped == [f"dropping num_tweets change for {ghost.payload['user_id']}: user not found"]
    # One deliver span, in the first row's trace, linked to the traces of the others.
    [span] = [
        s for s in finished_spans.get_finished_spans() if s.name == "users.IncrementTweetsBatch deliver"
    ]
    assert span.context is not None and span.context.trace_id == _trace_id(records[0])
    assert span.attributes is not None and span.attributes["outbox.batch_size"] == 156
    linked = {link.context.trace_id for link in span.links}
    assert linked and linked <= {_trace_id(record) for record in records[1:]}

    # The relay redelivering the batch (it crashed before marking it sent) changes nothing.
    await deliver(records)
    assert (await _num_tweets(users_stub, alice), await _num_tweets(users_stub, bob)) == (80, 34)


async def test_batches_beyond_the_limit_are_split_in_order(
    users_stub: user_service_pb2_grpc.UserAsyncStub,
    accounts: AccountFactory,
    finished_spans: InMemorySpanExporter,
) -> None:
    alice = await accounts()
    records = [_record(alice.id, 1) for _ in range(2 * MAX_BATCH)] + [
        _record(alice.id, -1) for _ in range(200)
    ]
    await increment_tweets_deliverer(users_stub)(records)
    assert await _num_tweets(users_stub, alice) == 2 * MAX_BATCH - 200
    assert _server_calls(finished_spans, "IncrementTweetsBatch") == 3


async def test_an_empty_batch_calls_nobody_and_a_row_that_is_no_change_is_refused_before_calling(
    users_stub: user_service_pb2_grpc.UserAsyncStub,
    accounts: AccountFactory,
    finished_spans: InMemorySpanExporter,
) -> None:
    alice = await accounts()
    await increment_tweets_deliverer(users_stub)([])
    with pytest.raises(InvalidInput):  # the relay splits the batch and parks this row
        await increment_tweets_deliverer(users_stub)([_record(alice.id, 1), _record("nope", 1)])
    assert _server_calls(finished_spans, "IncrementTweetsBatch") == 0
    assert await _num_tweets(users_stub, alice) == 0


async def test_a_batch_users_refuses_raises_as_invalid_not_unavailable(
    users_stub: user_service_pb2_grpc.UserAsyncStub, accounts: AccountFactory
) -> None:
    """A delta beyond the bound is INVALID_ARGUMENT from users: InvalidInput here (the relay parks
    the row), never "unavailable" (which the relay would retry forever)."""
    alice = await accounts()
    with pytest.raises(InvalidInput):
        await increment_tweets_deliverer(users_stub)([_record(alice.id, 1), _record(alice.id, 2**63 - 1)])
    assert await _num_tweets(users_stub, alice) == 0


async def test_users_unreachable_raises_so_the_relay_retries_the_batch(
    settings: Settings, users_stub: user_service_pb2_grpc.UserAsyncStub, accounts: AccountFactory
) -> None:
    alice = await accounts()
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = open_channel(f"127.0.0.1:{port}", "users", 1.0, settings.internal.service_token)
    try:
        with pytest.raises(DependencyUnavailable):
            await increment_tweets_deliverer(user_service_pb2_grpc.UserStub(channel))([_record(alice.id, 1)])
    finally:
        await channel.close(None)
    assert await _num_tweets(users_stub, alice) == 0


class _WithoutBatch:
    """Registers users as it was before IncrementTweetsBatch existed: the method is unknown to the
    server (UNIMPLEMENTED), as during a rolling deploy that has not reached users yet."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass  # rebuilt without the method below

    def add_registered_method_handlers(self, name: str, handlers: dict[str, Any]) -> None:
        kept = {method: handler for method, handler in handlers.items() if method != "IncrementTweetsBatch"}
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, kept),))
        self._server.add_registered_method_handlers(name, kept)


def _old_users(sessions: Any, server: grpc.aio.Server) -> None:
    user_service_pb2_grpc.add_UserServicer_to_server(UserServicer(sessions), _WithoutBatch(server))  # type: ignore[arg-type]


async def test_falls_back_to_one_call_per_row_when_users_predates_the_batch_call(
    settings: Settings,
    users_service: StartedService,
    users_stub: user_service_pb2_grpc.UserAsyncStub,
    accounts: AccountFactory,
    finished_spans: InMemorySpanExporter,
) -> None:
    alice = await accounts()
    sessions = wiring_of(users_service.app, Writing).sessions
    records = [_record(alice.id, 1) for _ in range(5)] + [_record(uuid7(), 1), _record(alice.id, -1)]
    token = settings.internal.service_token
    async with grpc_server(
        "127.0.0.1", 0, [SERVICE_NAME], lambda server: _old_users(sessions, server), service_token=token
    ) as running:
        channel = open_channel(f"127.0.0.1:{running.port}", "users", 5.0, token)
        try:
            deliver = increment_tweets_deliverer(user_service_pb2_grpc.UserStub(channel))
            await deliver(records)
            await deliver(records)  # redelivered: still once
        finally:
            await channel.close(None)
    assert await _num_tweets(users_stub, alice) == 4
    assert _server_calls(finished_spans, "IncrementTweets") == 2 * len(records)


async def test_one_poisoned_row_is_parked_and_every_other_counter_still_converges(
    tweets_service: StartedService,
    users_stub: user_service_pb2_grpc.UserAsyncStub,
    accounts: AccountFactory,
    client: httpx.AsyncClient,
) -> None:
    """The running tweets relay and users: a row asking for a delta users refuses (the 2^63-1 of
    the attack) sits among good rows of several authors, all in one batch. It is parked alone,
    shown in /ready, and every other row is applied, in order, the ones behind it included."""
    alice, bob = await accounts(), await accounts()
    changes = [(alice.id, 1)] * 5 + [(alice.id, 2**63 - 1)] + [(bob.id, 1)] * 7 + [(alice.id, -1)]
    assert tweets_service.engine is not None
    async with tweets_service.engine.begin() as connection:
        for user_id, delta in changes:
            await connection.execute(
                text(
                    "INSERT INTO outbox (destination, message_id, payload) VALUES (:d, :m, CAST(:p AS jsonb))"
                ),
                {
                    "d": DESTINATION,
                    "m": str(uuid7()),
                    "p": orjson.dumps({"user_id": str(user_id), "delta": delta}).decode(),
                },
            )
        await connection.execute(text("SELECT pg_notify('outbox', :d)"), {"d": DESTINATION})

    async def converged() -> bool:
        return (await _num_tweets(users_stub, alice), await _num_tweets(users_stub, bob)) == (4, 7)

    await wait_for(converged, timeout=15)
    async with tweets_service.engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT payload->>'delta', last_error FROM outbox"
                    " WHERE destination = :d AND parked_at IS NOT NULL"
                ),
                {"d": DESTINATION},
            )
        ).all()
        pending = (
            await connection.execute(
                text(
                    "SELECT count(*) FROM outbox WHERE destination = :d AND published_at IS NULL AND parked_at IS NULL"
                ),
                {"d": DESTINATION},
            )
        ).scalar_one()
    assert [row[0] for row in rows] == [str(2**63 - 1)] and pending == 0
    assert rows[0][1].startswith("InvalidInput: delta must be between")
    ready = (await client.get("/ready")).json()
    assert ready["background"][f"outbox.{DESTINATION}"] == "delivering, 1 parked"

    # Dealt with (here deleted; clearing parked_at would retry it), it leaves /ready.
    async with tweets_service.engine.begin() as connection:
        await connection.execute(text("DELETE FROM outbox WHERE parked_at IS NOT NULL"))
        await connection.execute(text("SELECT pg_notify('outbox', :d)"), {"d": DESTINATION})

    async def released() -> bool:
        return (await client.get("/ready")).json()["background"][f"outbox.{DESTINATION}"] == "delivering"

    await wait_for(released, timeout=10)
