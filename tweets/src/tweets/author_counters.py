"""The author's num_tweets in users, kept through the outbox so a tweet never waits on users.

Creating (deleting) a tweet writes a `users.increment_tweets` outbox row in the same transaction;
a relay hands the pending rows to `increment_tweets_deliverer` in batches (outbox order), which
sends each batch to users as one IncrementTweetsBatch call (one RPC, one users transaction); while
users is down the call fails and the relay retries the whole batch. A batch users refuses (a row
with a bad id or delta) raises too, and the relay splits it until the bad row is parked alone.
Each row carries its own idempotency key, so a redelivered row changes the counter once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

import grpc
from opentelemetry import trace
from opentelemetry.context import Context

from fleet_proto import user_service_pb2 as users_pb
from fleet_proto import user_service_pb2_grpc as users_grpc
from shared.errors import DependencyFailed, InvalidInput, NotFound
from shared.ids import uuid7
from shared.messaging.outbox import OutboxMessage, OutboxRecord
from shared.messaging.relay import Deliver
from shared.telemetry import extract_context, tracer

logger = logging.getLogger(__name__)
_tracer = tracer(__name__)
DESTINATION = "users.increment_tweets"
# Changes per IncrementTweetsBatch call (users accepts up to 1,000); the relay's batches are 200.
MAX_BATCH = 500


def increment_message(user_id: uuid.UUID, delta: int) -> OutboxMessage:
    """The outbox message asking for the author's counter to move by delta (written in the
    transaction of the change)."""
    return OutboxMessage(DESTINATION, {"user_id": str(user_id), "delta": delta}, message_id=str(uuid7()))


def idempotency_key(record: OutboxRecord) -> str:
    # The row's message id (a UUIDv7), not its serial id: serial ids restart when the table is
    # recreated or truncated, and users would then take a new row for one it already applied.
    return f"tweets-outbox:{record.message_id}"


def increment_tweets_deliverer(users: users_grpc.UserAsyncStub) -> Deliver:
    """Deliver a relay batch in outbox order (the counter is clamped at zero, so order matters):
    one IncrementTweetsBatch call per MAX_BATCH rows. A change for an account that is gone is
    logged and dropped; a failed or refused call raises (the relay retries, or splits and parks)."""

    async def deliver(records: Sequence[OutboxRecord]) -> None:
        for start in range(0, len(records), MAX_BATCH):
            await _deliver_batch(users, records[start : start + MAX_BATCH])

    return deliver


async def _deliver_batch(users: users_grpc.UserAsyncStub, records: Sequence[OutboxRecord]) -> None:
    requests = [_request(record) for record in records]
    if not requests:
        return
    # In the trace of the request that wrote the first row (like the events are), linked to the
    # traces of the others.
    parent = extract_context(records[0].headers)
    with _tracer.start_as_current_span(
        "users.IncrementTweetsBatch deliver", context=parent, links=_links(records[1:], parent)
    ) as span:
        span.set_attribute("outbox.batch_size", len(requests))
        try:
            reply = await users.IncrementTweetsBatch(users_pb.IncrementTweetsBatchRequest(changes=requests))
        except DependencyFailed as exc:
            if not _unimplemented(exc):
                raise
            # A users that predates IncrementTweetsBatch (during a rolling deploy).
            await _deliver_one_by_one(users, records)
            return
    for request, result in zip(requests, reply.results, strict=True):
        if not result.found:
            # Retrying cannot help (the account is gone): drop it rather than block the rows behind it.
            logger.warning("dropping num_tweets change for %s: user not found", request.user_id)


def _request(record: OutboxRecord) -> users_pb.IncrementTweetsRequest:
    """The change a row asks for; InvalidInput (the relay parks the row) if it is not one."""
    try:
        user_id = str(uuid.UUID(str(record.payload["user_id"])))
        delta = int(record.payload["delta"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"outbox row {record.id} is not a num_tweets change ({exc!r})") from exc
    return users_pb.IncrementTweetsRequest(
        user_id=user_id, delta=delta, idempotency_key=idempotency_key(record)
    )


def _links(records: Sequence[OutboxRecord], parent: Context) -> list[trace.Link]:
    """One link per distinct span context of the records (the parent's own excluded)."""
    first = trace.get_current_span(parent).get_span_context()
    seen = {(first.trace_id, first.span_id)}
    links: list[trace.Link] = []
    for record in records:
        span_context = trace.get_current_span(extract_context(record.headers)).get_span_context()
        key = (span_context.trace_id, span_context.span_id)
        if span_context.is_valid and key not in seen:
            seen.add(key)
            links.append(trace.Link(span_context))
    return links


def _unimplemented(exc: BaseException) -> bool:
    cause = exc.__cause__
    return isinstance(cause, grpc.aio.AioRpcError) and cause.code() == grpc.StatusCode.UNIMPLEMENTED


async def _deliver_one_by_one(users: users_grpc.UserAsyncStub, records: Sequence[OutboxRecord]) -> None:
    """The single IncrementTweets call per row, in order (each key still applies once)."""
    for record in records:
        request = _request(record)
        try:
            with _tracer.start_as_current_span(
                "users.IncrementTweets deliver", context=extract_context(record.headers)
            ):
                await users.IncrementTweets(request)
        except NotFound as exc:
            logger.warning("dropping num_tweets change for %s: %s", request.user_id, exc.detail)
