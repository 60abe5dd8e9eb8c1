"""The message handler of queue search_tweets: a TweetEvent becomes an index document."""

from __future__ import annotations

from typing import Any

from search.backends import document_from_event
from search_worker.batcher import IndexBatcher
from shared.messaging.consumer import Handler
from shared.messaging.events import TweetEvent
from shared.messaging.topology import TWEET_ACTION_EVENTS


def tweet_event_handler(batcher: IndexBatcher) -> Handler:
    async def handle(body: dict[str, Any]) -> None:
        if body.get("event_type") in TWEET_ACTION_EVENTS:
            return  # a like, repost or reply event: nothing to index
        # A body that is not a TweetEvent raises ValidationError: the consumer dead-letters it.
        event = TweetEvent.model_validate(body)
        await batcher.submit(document_from_event(event))

    return handle
