"""Exchanges, queues and bindings of the contract, declared the same way by every process.

Each queue dead-letters into `<queue>.dlq`, so a message rejected without requeue lands there.
Declaring is idempotent: publishers declare the consumers' queues too, so an event published
before any worker ever ran is kept. With `[RabbitMQ] queue_type = "quorum"` every queue and DLQ is
declared as a quorum queue (replicated over a RabbitMQ cluster's nodes); "classic" declares them as
before, without the argument, so queues of existing deployments still match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

TWEET_EVENTS = "tweet_events"
USER_EVENTS = "user_events"

TWEET_CREATE: Final = "tweet.create"
TWEET_UPDATE: Final = "tweet.update"
TWEET_DELETE: Final = "tweet.delete"
TWEET_REPOST: Final = "tweet.repost"
TWEET_UNREPOST: Final = "tweet.unrepost"
TWEET_LIKE: Final = "tweet.like"
TWEET_UNLIKE: Final = "tweet.unlike"
TWEET_REPLY: Final = "tweet.reply"
# The events about a tweet's content (TweetEvent bodies) and about what others did to it
# (TweetActionEvent bodies).
TWEET_CONTENT_EVENTS: Final = frozenset({TWEET_CREATE, TWEET_UPDATE, TWEET_DELETE})
TWEET_ACTION_EVENTS: Final = frozenset({TWEET_REPOST, TWEET_UNREPOST, TWEET_LIKE, TWEET_UNLIKE, TWEET_REPLY})
USER_FOLLOW: Final = "user.follow"
USER_UNFOLLOW: Final = "user.unfollow"
USER_DELETE: Final = "user.delete"
USER_BLOCK: Final = "user.block"
USER_UNBLOCK: Final = "user.unblock"
USER_MUTE: Final = "user.mute"
USER_UNMUTE: Final = "user.unmute"
# UserRelationEvent bodies.
USER_RELATION_EVENTS: Final = (USER_BLOCK, USER_UNBLOCK, USER_MUTE, USER_UNMUTE)
USER_CREATE: Final = "user.create"
USER_UPDATE: Final = "user.update"

FEED_TWEETS_QUEUE = "general_tweets"
FEED_FOLLOWS_QUEUE = "feed_follows"
SEARCH_QUEUE = "search_tweets"
# The search worker's user index (user search): accounts created, changed and deleted.
SEARCH_USERS_QUEUE = "search_users"
# The notification worker's: every tweet event (likes, reposts, replies, mentions) and follows.
NOTIFICATIONS_QUEUE = "notifications"
# Consumed by the tweets service: a deleted account's tweets, likes and reposts go with it.
TWEETS_USER_DELETES_QUEUE = "tweets_user_deletes"


QueueType = Literal["classic", "quorum"]


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
        QueueSpec(
            FEED_FOLLOWS_QUEUE,
            (
                (USER_EVENTS, USER_FOLLOW),
                (USER_EVENTS, USER_UNFOLLOW),
                # Blocks and mutes change what a reader's feed hides (feed.viewers).
                *((USER_EVENTS, key) for key in USER_RELATION_EVENTS),
                # A changed or deleted account's cached author goes (feed.authors).
                (USER_EVENTS, USER_UPDATE),
                (USER_EVENTS, USER_DELETE),
            ),
        ),
        # Only content events: the index holds no likes or reposts (a queue declared before bound
        # "tweet.*", so search_worker skips the other events too).
        QueueSpec(SEARCH_QUEUE, tuple((TWEET_EVENTS, key) for key in sorted(TWEET_CONTENT_EVENTS))),
        QueueSpec(
            SEARCH_USERS_QUEUE,
            ((USER_EVENTS, USER_CREATE), (USER_EVENTS, USER_UPDATE), (USER_EVENTS, USER_DELETE)),
        ),
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


def type_arguments(queue_type: QueueType) -> dict[str, Any]:
    """The declare arguments that give a queue its type."""
    return {"x-queue-type": "quorum"} if queue_type == "quorum" else {}


async def declare_dlq(
    channel: AbstractChannel, spec: QueueSpec, queue_type: QueueType = "classic"
) -> AbstractQueue:
    return await channel.declare_queue(spec.dlq, durable=True, arguments=type_arguments(queue_type))


async def declare_queue(
    channel: AbstractChannel, spec: QueueSpec, queue_type: QueueType = "classic"
) -> AbstractQueue:
    """Declare a queue, its DLQ and its bindings (the exchanges must exist)."""
    await declare_dlq(channel, spec, queue_type)
    queue = await channel.declare_queue(
        spec.name,
        durable=True,
        arguments={
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": spec.dlq,
            **type_arguments(queue_type),
        },
    )
    for exchange, routing_key in spec.bindings:
        await queue.bind(exchange, routing_key)
    return queue


async def declare_topology(
    channel: AbstractChannel, queue_type: QueueType = "classic"
) -> dict[str, AbstractExchange]:
    """Every exchange and queue of the fleet."""
    exchanges = await declare_exchanges(channel)
    for spec in QUEUES.values():
        await declare_queue(channel, spec, queue_type)
    return exchanges
