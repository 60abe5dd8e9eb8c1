"""The tweets side of `DELETE /users/me`: on `user.delete` (from users, through its outbox) the
account's tweets, replies, likes and reposts are deleted, in batches, each tweet with its usual
tweet.delete event. Runs in the tweets process, on its own queue (with its DLQ); idempotent, so
a redelivered event finds less or nothing left to delete."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feed.client import FeedCacheClient
from shared.db.engine import transaction
from shared.messaging.consumer import EventConsumer, Handler, Subscription
from shared.messaging.events import UserDeleteEvent
from shared.messaging.topology import TWEETS_USER_DELETES_QUEUE
from shared.revocation import MAX_STALENESS_SECONDS
from shared.settings import RabbitMQSettings, WorkerSettings
from tweets.service import TweetService

# Tweets deleted per transaction: a prolific account does not hold thousands of row locks at once.
BATCH = 200


def user_delete_handler(sessions: async_sessionmaker[AsyncSession], feed_cache: FeedCacheClient) -> Handler:
    async def handle(body: dict[str, Any]) -> None:
        event = UserDeleteEvent.model_validate(body)
        # Every process refuses the account's tokens at most MAX_STALENESS_SECONDS after the
        # deletion: sweeping only after that, no tweet posted with a stale token outlives it.
        wait = (event.occurred_at - datetime.now(UTC)).total_seconds() + MAX_STALENESS_SECONDS
        if wait > 0:
            await asyncio.sleep(wait)
        while True:
            async with transaction(sessions) as session:
                service = TweetService(session)
                deleted = await service.forget_author(event.user_id, BATCH)
            await feed_cache.tweets_changed(service.changed_tweets)
            if deleted < BATCH:
                return

    return handle


def user_delete_consumer(
    rabbitmq: RabbitMQSettings,
    sessions: async_sessionmaker[AsyncSession],
    feed_cache: FeedCacheClient,
    name: str,
) -> EventConsumer:
    subscription = Subscription(TWEETS_USER_DELETES_QUEUE, user_delete_handler(sessions, feed_cache))
    return EventConsumer(
        rabbitmq.url.get_secret_value(), [subscription], WorkerSettings(prefetch=4), name, rabbitmq.queue_type
    )
