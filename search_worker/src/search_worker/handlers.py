"""The message handlers of the search worker: tweet events become index documents (queue
search_tweets), account events user index entries (queue search_users)."""

from __future__ import annotations

from typing import Any

from search.backends import SearchBackend, UserDocument, document_from_event, microseconds
from search_worker.batcher import IndexBatcher
from shared.messaging.consumer import Handler
from shared.messaging.events import TweetEvent, UserDeleteEvent, UserProfileEvent
from shared.messaging.topology import USER_DELETE


def tweet_event_handler(batcher: IndexBatcher) -> Handler:
    async def handle(body: dict[str, Any]) -> None:
        # A body that is not a TweetEvent raises ValidationError: the consumer dead-letters it.
        event = TweetEvent.model_validate(body)
        await batcher.submit(document_from_event(event))

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
