"""The message handler of queue search_tweets: a TweetEvent becomes an index document."""

from __future__ import annotations

from typing import Any

from search.backends import document_from_event
from search_worker.batcher import IndexBatcher
from shared.messaging.consumer import Handler
from shared.messaging.events import TweetEvent


def tweet_event_handler(batcher: IndexBatcher) -> Handler:
    async def handle(body: dict[str, Any]) -> None:
        # A body that is not a TweetEvent raises ValidationError: the consumer dead-letters it.
        event = TweetEvent.model_validate(body)
        await batcher.submit(document_from_event(event))

    return handle
