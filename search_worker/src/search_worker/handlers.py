"""The message handlers of the search worker: tweet events become index documents (queue
search_tweets), account events user index entries (queue search_users)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client import Histogram

from search.backends import SearchBackend, UserDocument, document_from_event, microseconds
from search_worker.batcher import IndexBatcher
from shared.messaging.consumer import Handler
from shared.messaging.events import TweetEvent, UserDeleteEvent, UserProfileEvent
from shared.messaging.topology import TWEET_ACTION_EVENTS, USER_DELETE

INDEX_LAG = Histogram(
    "search_index_lag_seconds",
    "From a tweet's change (created_at, or updated_at for edits and deletes) to its index write",
    ["event_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)


def tweet_event_handler(batcher: IndexBatcher) -> Handler:
    async def handle(body: dict[str, Any]) -> None:
        if body.get("event_type") in TWEET_ACTION_EVENTS:
            return  # a like, repost or reply event: nothing to index
        # A body that is not a TweetEvent raises ValidationError: the consumer dead-letters it.
        event = TweetEvent.model_validate(body)
        await batcher.submit(document_from_event(event))
        changed = event.created_at if event.event_type == "tweet.create" else event.updated_at
        lag = (datetime.now(UTC) - changed).total_seconds()
        INDEX_LAG.labels(event.event_type).observe(max(0.0, lag))

    return handle


def user_from_event(body: dict[str, Any]) -> UserDocument:
    """The user index entry an account event stands for; a delete becomes a tombstone."""
    if body.get("event_type") == USER_DELETE:
        gone = UserDeleteEvent.model_validate(body)
        return UserDocument(gone.user_id, "", "", 0, microseconds(gone.occurred_at), deleted=True)
    event = UserProfileEvent.model_validate(body)
    return UserDocument(
        event.user_id,
        event.username,
        event.display_name,
        event.num_followers,
        microseconds(event.occurred_at),
    )


def user_event_handler(backend: SearchBackend) -> Handler:
    async def handle(body: dict[str, Any]) -> None:
        # Accounts change rarely: one write per event, no batching.
        await backend.apply_users([user_from_event(body)])

    return handle
