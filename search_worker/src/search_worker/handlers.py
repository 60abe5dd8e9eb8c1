"""The message handler of queue search_tweets: a TweetEvent becomes an index document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client import Histogram

from search.backends import document_from_event
from search_worker.batcher import IndexBatcher
from shared.messaging.consumer import Handler
from shared.messaging.events import TweetEvent
from shared.messaging.topology import TWEET_ACTION_EVENTS

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
