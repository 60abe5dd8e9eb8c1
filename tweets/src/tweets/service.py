"""Tweets logic: tweets, replies, likes and reposts, with their events and the author's counter.

Every change and the messages announcing it are written in one transaction (the outbox), so a
committed tweet always reaches RabbitMQ and users, and a rolled back one never does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.raw import raw_connection
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.ids import uuid7, uuid7_time_ms
from shared.messaging.events import TweetActionEvent, TweetEvent
from shared.messaging.outbox import RABBITMQ, OutboxMessage, RelayWaker, enqueue
from shared.messaging.topology import (
    TWEET_CREATE,
    TWEET_DELETE,
    TWEET_EVENTS,
    TWEET_LIKE,
    TWEET_REPLY,
    TWEET_REPOST,
    TWEET_UNLIKE,
    TWEET_UNREPOST,
    TWEET_UPDATE,
)
from tweets.author_counters import increment_message
from tweets.blocks import BlockCheck, refuse_if_blocked
from tweets.entities import MentionResolver, parse_entities
from tweets.models import ReplyTweet, Tweet, TweetLike, TweetMark, TweetRepost
from tweets.repository import (
    Counter,
    TweetRepository,
    TweetRow,
    ViewerState,
    entity_columns,
    insert_tweet,
    user_timeline,
    user_tweets_before,
)

_COUNTER_OF: dict[type[TweetMark], Counter] = {TweetLike: "num_likes", TweetRepost: "num_reposts"}
_NAME_OF: dict[type[TweetMark], str] = {TweetLike: "liked", TweetRepost: "reposted"}
# The event of a new mark, and of its removal.
_EVENTS_OF: dict[type[TweetMark], tuple[str, str]] = {
    TweetLike: (TWEET_LIKE, TWEET_UNLIKE),
    TweetRepost: (TWEET_REPOST, TWEET_UNREPOST),
}


def new_id() -> tuple[uuid.UUID, datetime]:
    """A fresh UUIDv7 and the instant it encodes: created_at orders exactly like the ids."""
    value = uuid7()
    return value, datetime.fromtimestamp(uuid7_time_ms(value) / 1000, UTC)


def _now_after(earlier: datetime) -> datetime:
    # Never before the creation time, even if this host's clock stepped back.
    return max(datetime.now(UTC), earlier)


def tweet_event_message(
    event_type: str, tweet: Tweet | TweetRow, updated_at: datetime | None = None
) -> OutboxMessage:
    """The outbox message of a tweet event (published to tweet_events under its type)."""
    event = TweetEvent(
        event_type=event_type,
        tweet_id=tweet.id,
        user_id=tweet.user_id,
        content=tweet.content,
        created_at=tweet.created_at,
        updated_at=updated_at or tweet.updated_at,
        entities=tweet.entities,
    )
    return OutboxMessage(
        RABBITMQ,
        event.model_dump(mode="json"),
        message_id=str(event.event_id),
        exchange=TWEET_EVENTS,
        routing_key=event_type,
    )


def action_event_message(
    event_type: str,
    tweet: Tweet,
    actor_id: uuid.UUID,
    *,
    reply_id: uuid.UUID | None = None,
    repost_id: uuid.UUID | None = None,
) -> OutboxMessage:
    """The outbox message of a like, repost or reply (or their removal) by `actor_id` on `tweet`."""
    event = TweetActionEvent(
        event_type=event_type,
        tweet_id=tweet.id,
        author_id=tweet.user_id,
        user_id=actor_id,
        reply_id=reply_id,
        repost_id=repost_id,
    )
    return OutboxMessage(
        RABBITMQ,
        event.model_dump(mode="json"),
        message_id=str(event.event_id),
        exchange=TWEET_EVENTS,
        routing_key=event_type,
    )


class TweetComposer:
    """Posts tweets. The hottest write, so it runs straight on the asyncpg pool, with no ORM
    session: the tweet, its tweet.create event and the author's counter change are one statement,
    committed in one round trip; the relays are woken through `waker`."""

    def __init__(self, pool: asyncpg.Pool, waker: RelayWaker, mentions: MentionResolver) -> None:
        self.pool = pool
        self.waker = waker
        self.mentions = mentions

    async def create(self, author_id: uuid.UUID, content: str) -> TweetRow:
        # Before the connection is taken: a users call (text with an `@` only) holds none.
        entities = entity_columns(await parse_entities(content, self.mentions))
        tweet_id, at = new_id()
        tweet = TweetRow(
            id=tweet_id,
            user_id=author_id,
            content=content,
            num_likes=0,
            num_replys=0,
            num_reposts=0,
            created_at=at,
            updated_at=at,
            **entities,
        )
        messages = [tweet_event_message(TWEET_CREATE, tweet), increment_message(author_id, +1)]
        notify = self.waker.notify_inline()
        async with raw_connection(self.pool) as connection:
            await insert_tweet(connection, tweet, messages, notify=notify)
        if not notify:
            self.waker.committed_quietly([message.destination for message in messages])
        return tweet


class TimelineReader:
    """Reads users' timelines, straight on the asyncpg pool (a hot read: one in three requests of
    a typical mix), without an ORM session."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def user_tweets(
        self,
        user_id: uuid.UUID,
        limit: int,
        offset: int,
        before: uuid.UUID | None,
        since: uuid.UUID | None = None,
    ) -> tuple[list[TweetRow], int]:
        if since is not None and (offset or before is not None):
            raise InvalidInput("since_id goes with neither offset nor before")
        async with raw_connection(self.pool) as connection:
            rows, total = await user_timeline(connection, user_id, limit, offset, before, since)
        return [TweetRow(**row) for row in rows], total

    async def user_tweets_before(
        self, user_id: uuid.UUID, before: uuid.UUID | None, limit: int
    ) -> list[TweetRow]:
        """A keyset page (no total): what gRPC GetUserTweets serves to the feed's backfill."""
        async with raw_connection(self.pool) as connection:
            rows = await user_tweets_before(connection, user_id, before, limit)
        return [TweetRow(**row) for row in rows]


class TweetService:
    def __init__(
        self, session: AsyncSession, blocks: BlockCheck | None = None, mentions: MentionResolver | None = None
    ) -> None:
        self.session = session
        # None: reads only (replies, likes and reposts need it).
        self._blocks = blocks
        self.mentions = mentions  # needed by the writes that parse text (update)
        self.tweets = TweetRepository(session)
        # Tweets whose shown state (content, counters, existence) this transaction changed: their
        # cached copies (feed.tweetcache) are dropped once it commits.
        self.changed_tweets: set[uuid.UUID] = set()
        # Users whose likes or reposts this transaction changed: their feed items' state is asked
        # again once it commits (feed.viewers).
        self.changed_viewers: set[uuid.UUID] = set()

    async def get(self, tweet_id: uuid.UUID) -> Tweet:
        tweet = await self.tweets.get_tweet(tweet_id)
        if tweet is None:
            raise NotFound(f"tweet {tweet_id} not found")
        return tweet

    async def get_many(self, tweet_ids: Sequence[uuid.UUID]) -> list[Row[Any]]:
        """The tweets found among `tweet_ids` (any order), as plain rows for hydration."""
        return await self.tweets.get_tweets(tweet_ids)

    async def tweets_after(self, after: uuid.UUID | None, limit: int) -> list[Tweet]:
        """A keyset page of every tweet in id (creation) order (reindexing)."""
        return await self.tweets.tweets_after(after, limit)

    async def reposts_before(
        self, user_id: uuid.UUID, before: uuid.UUID | None, limit: int
    ) -> list[TweetRepost]:
        """A keyset page of a user's reposts, newest first (gRPC GetUserReposts, the feed's backfill)."""
        return await self.tweets.user_reposts_before(user_id, before, limit)

    async def update(self, caller_id: uuid.UUID, tweet_id: uuid.UUID, content: str) -> Tweet:
        assert self.mentions is not None, "updates parse mentions"
        # Parsed before the row is locked: the users call must not hold the lock.
        entities = await parse_entities(content, self.mentions)
        tweet = await self._own_tweet(caller_id, tweet_id)
        updated = await self.tweets.update_content(tweet_id, content, entities, _now_after(tweet.updated_at))
        assert updated is not None  # locked by _own_tweet
        self.changed_tweets.add(tweet_id)
        await self._announce(TWEET_UPDATE, updated)
        return updated

    async def delete(self, caller_id: uuid.UUID, tweet_id: uuid.UUID) -> None:
        tweet = await self._own_tweet(caller_id, tweet_id)
        await self.tweets.delete_tweet(tweet_id)
        self.changed_tweets.add(tweet_id)
        # The delete event carries the last content and the deletion time as updated_at, so it
        # orders after every earlier version of the tweet.
        await enqueue(
            self.session,
            tweet_event_message(TWEET_DELETE, tweet, _now_after(tweet.updated_at)),
            increment_message(tweet.user_id, -1),
        )

    async def forget_author(self, user_id: uuid.UUID, batch: int) -> int:
        """One step of deleting an account's content: its likes, reposts and replies, then up to
        `batch` of its tweets, each with the usual tweet.delete (so it leaves feeds and the index).
        No counter message: the account is gone. Returns how many tweets were deleted."""
        self.changed_tweets |= await self.tweets.forget_activity_of(user_id)
        tweets = await self.tweets.lock_user_tweets(user_id, batch)
        messages = []
        for tweet in tweets:
            await self.tweets.delete_tweet(tweet.id)
            self.changed_tweets.add(tweet.id)
            messages.append(tweet_event_message(TWEET_DELETE, tweet, _now_after(tweet.updated_at)))
        if messages:
            await enqueue(self.session, *messages)
        return len(tweets)

    async def _own_tweet(self, caller_id: uuid.UUID, tweet_id: uuid.UUID) -> Tweet:
        """The caller's tweet, locked for the change; 404 if missing, 403 if someone else's."""
        tweet = await self.tweets.get_tweet(tweet_id, for_update=True)
        if tweet is None:
            raise NotFound(f"tweet {tweet_id} not found")
        if tweet.user_id != caller_id:
            raise Forbidden("only the author can change or delete this tweet")
        return tweet

    async def _announce(self, event_type: str, tweet: Tweet, updated_at: datetime | None = None) -> None:
        """Write the tweet event to the outbox in the same transaction as the change."""
        await enqueue(self.session, tweet_event_message(event_type, tweet, updated_at))

    # Replies

    async def reply(self, caller_id: uuid.UUID, parent_id: uuid.UUID, content: str) -> ReplyTweet:
        assert self.mentions is not None, "replies parse mentions"
        # Both users calls before the first statement: neither holds a connection or the row lock.
        entities = await parse_entities(content, self.mentions)
        blocked = await self._blocked_with(caller_id)
        parent = await self._shift_or_404(parent_id, "num_replys", +1)
        refuse_if_blocked(blocked, parent.user_id)  # the rollback undoes the shift
        reply_id, at = new_id()
        reply = await self.tweets.add_reply(reply_id, parent_id, caller_id, content, at, entities)
        await enqueue(self.session, action_event_message(TWEET_REPLY, parent, caller_id, reply_id=reply_id))
        return reply

    async def replies(self, parent_id: uuid.UUID, limit: int, offset: int) -> tuple[list[ReplyTweet], int]:
        await self.get(parent_id)
        return await self.tweets.list_replies(parent_id, limit, offset)

    async def delete_reply(self, caller_id: uuid.UUID, reply_id: uuid.UUID) -> None:
        reply = await self.tweets.get_reply(reply_id)
        if reply is None:
            raise NotFound(f"reply {reply_id} not found")
        if reply.user_id != caller_id:
            raise Forbidden("only the author can delete this reply")
        await self._shift_or_404(reply.parent_id, "num_replys", -1)
        if not await self.tweets.delete_reply(reply_id):
            raise NotFound(f"reply {reply_id} not found")  # deleted meanwhile; the rollback undoes the shift

    # Likes and reposts

    async def mark(
        self, model: type[TweetMark], caller_id: uuid.UUID, tweet_id: uuid.UUID
    ) -> tuple[TweetMark, Tweet]:
        """Like (or repost) a tweet once: 404 if it does not exist, 409 the second time."""
        blocked = await self._blocked_with(caller_id)
        tweet = await self._shift_or_404(tweet_id, _COUNTER_OF[model], +1)
        refuse_if_blocked(blocked, tweet.user_id)  # the rollback undoes the shift
        mark = await self.tweets.add_mark(model, caller_id, tweet_id)
        if mark is None:
            # The transaction rolls back on the error, and the counter with it.
            raise Conflict(f"you have already {_NAME_OF[model]} this tweet")
        await enqueue(self.session, self._mark_event(_EVENTS_OF[model][0], mark, tweet, caller_id))
        self.changed_viewers.add(caller_id)
        return mark, tweet

    async def unmark(self, model: type[TweetMark], caller_id: uuid.UUID, tweet_id: uuid.UUID) -> None:
        tweet = await self._shift_or_404(tweet_id, _COUNTER_OF[model], -1)
        mark = await self.tweets.remove_mark(model, caller_id, tweet_id)
        if mark is None:
            raise NotFound(f"you have not {_NAME_OF[model]} this tweet")
        await enqueue(self.session, self._mark_event(_EVENTS_OF[model][1], mark, tweet, caller_id))
        self.changed_viewers.add(caller_id)

    @staticmethod
    def _mark_event(event_type: str, mark: TweetMark, tweet: Tweet, caller_id: uuid.UUID) -> OutboxMessage:
        repost_id = mark.id if isinstance(mark, TweetRepost) else None
        return action_event_message(event_type, tweet, caller_id, repost_id=repost_id)

    async def viewer_state(self, caller_id: uuid.UUID, tweet_ids: Sequence[uuid.UUID]) -> ViewerState:
        """Which of the tweets the caller liked and reposted, as this transaction sees them: a
        write's answer read before its commit needs nothing from PostgreSQL after it (a committed
        like is never answered 503)."""
        return await self.tweets.viewer_state(caller_id, tweet_ids)

    async def marks(
        self, model: type[TweetMark], caller_id: uuid.UUID, limit: int, offset: int
    ) -> tuple[list[tuple[TweetMark, Tweet]], int]:
        return await self.tweets.list_marks(model, caller_id, limit, offset)

    async def _blocked_with(self, caller_id: uuid.UUID) -> frozenset[uuid.UUID]:
        # Asked before the first statement of the transaction (tweets.blocks says why).
        if self._blocks is None:
            raise RuntimeError("TweetService needs a BlockCheck to reply, like or repost")
        return await self._blocks.blocked_with(caller_id)

    async def _shift_or_404(self, tweet_id: uuid.UUID, counter: Counter, delta: int) -> Tweet:
        """Move a counter of the tweet, 404 if there is none.

        The UPDATE comes first on purpose: it locks the tweet row before any like, repost or reply
        row, the same order a tweet deletion takes (tweet, then its cascade), so the two never
        deadlock; a failure after it rolls the whole transaction back.
        """
        tweet = await self.tweets.shift_counter(tweet_id, counter, delta)
        if tweet is None:
            raise NotFound(f"tweet {tweet_id} not found")
        self.changed_tweets.add(tweet_id)
        return tweet
