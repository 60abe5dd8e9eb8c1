"""Exchanges, queues and bindings of the contract, declared the same way by every process.

Each queue dead-letters into `<queue>.dlq`, so a message rejected without requeue lands there.
Declaring is idempotent: publishers declare the consumers' queues too, so an event published
before any worker ever ran is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

TWEET_EVENTS = "tweet_events"
USER_EVENTS = "user_events"

TWEET_CREATE: Final = "tweet.create"
TWEET_UPDATE: Final = "tweet.update"
TWEET_DELETE: Final = "tweet.delete"
USER_FOLLOW: Final = "user.follow"
USER_UNFOLLOW: Final = "user.unfollow"
USER_DELETE: Final = "user.delete"

FEED_TWEETS_QUEUE = "general_tweets"
FEED_FOLLOWS_QUEUE = "feed_follows"
SEARCH_QUEUE = "search_tweets"
# The notification worker's: every tweet event (likes, reposts, replies, mentions) and follows.
NOTIFICATIONS_QUEUE = "notifications"
# Consumed by the tweets service: a deleted account's tweets, likes and reposts go with it.
TWEETS_USER_DELETES_QUEUE = "tweets_user_deletes"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    bindings: tuple[tuple[str, str], ...]  # (exchange, routing key)

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


QUEUES: dict[str, QueueSpec] = {
    spec.name: spec
    for spec in (
        # tweet.update changes no feed, but the worker drops the cached copy (feed.tweetcache).
        QueueSpec(FEED_TWEETS_QUEUE, ((TWEET_EVENTS, "tweet.*"),)),
        QueueSpec(FEED_FOLLOWS_QUEUE, ((USER_EVENTS, USER_FOLLOW), (USER_EVENTS, USER_UNFOLLOW))),
        QueueSpec(SEARCH_QUEUE, ((TWEET_EVENTS, "tweet.*"),)),
        QueueSpec(TWEETS_USER_DELETES_QUEUE, ((USER_EVENTS, USER_DELETE),)),
        QueueSpec(
            NOTIFICATIONS_QUEUE,
            ((TWEET_EVENTS, "tweet.*"), (USER_EVENTS, USER_FOLLOW), (USER_EVENTS, USER_UNFOLLOW)),
        ),
    )
}


async def declare_exchanges(channel: AbstractChannel) -> dict[str, AbstractExchange]:
    return {
        name: await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        for name in (TWEET_EVENTS, USER_EVENTS)
    }


async def declare_queue(channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
    """Declare a queue, its DLQ and its bindings (the exchanges must exist)."""
    await channel.declare_queue(spec.dlq, durable=True)
    queue = await channel.declare_queue(
        spec.name,
        durable=True,
        arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": spec.dlq},
    )
    for exchange, routing_key in spec.bindings:
        await queue.bind(exchange, routing_key)
    return queue


async def declare_topology(channel: AbstractChannel) -> dict[str, AbstractExchange]:
    """Every exchange and queue of the fleet."""
    exchanges = await declare_exchanges(channel)
    for spec in QUEUES.values():
        await declare_queue(channel, spec)
    return exchanges
