"""The author's num_tweets in users, kept through the outbox so a tweet never waits on users.

Creating (deleting) a tweet writes a `users.increment_tweets` outbox row in the same transaction;
a relay calls users' IncrementTweets for each row, in order, and retries while users is down.
Each row carries its own idempotency key, so a redelivered row changes the counter once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from fleet_proto import user_service_pb2 as users_pb
from fleet_proto import user_service_pb2_grpc as users_grpc
from shared.errors import InvalidInput, NotFound
from shared.ids import uuid7
from shared.messaging.outbox import Deliver, OutboxRecord, enqueue
from shared.telemetry import extract_context, tracer

logger = logging.getLogger(__name__)
_tracer = tracer(__name__)
DESTINATION = "users.increment_tweets"


async def enqueue_increment(session: AsyncSession, user_id: uuid.UUID, delta: int) -> None:
    """Ask (through the outbox, in the caller's transaction) for the author's counter to move by delta."""
    await enqueue(session, DESTINATION, {"user_id": str(user_id), "delta": delta}, message_id=str(uuid7()))


def idempotency_key(record: OutboxRecord) -> str:
    # The row's message id (a UUIDv7), not its serial id: serial ids restart when the table is
    # recreated or truncated, and users would then take a new row for one it already applied.
    return f"tweets-outbox:{record.message_id}"


def increment_tweets_deliverer(users: users_grpc.UserAsyncStub) -> Deliver:
    """Deliver increments one at a time in outbox order (the counter is clamped at zero, so order matters)."""

    async def deliver(records: Sequence[OutboxRecord]) -> None:
        for record in records:
            request = users_pb.IncrementTweetsRequest(
                user_id=str(record.payload["user_id"]),
                delta=int(record.payload["delta"]),
                idempotency_key=idempotency_key(record),
            )
            try:
                # In the trace of the request that wrote the row, like the events are.
                with _tracer.start_as_current_span(
                    "users.IncrementTweets deliver", context=extract_context(record.headers)
                ):
                    await users.IncrementTweets(request)
            except (NotFound, InvalidInput) as exc:
                # Retrying cannot help (the account is gone): drop it rather than block the rows behind it.
                logger.warning("dropping num_tweets change for %s: %s", request.user_id, exc.detail)

    return deliver
