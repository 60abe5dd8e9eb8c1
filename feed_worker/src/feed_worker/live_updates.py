"""Telling open live streams that feeds changed: after the worker writes a tweet into a page of
feeds, every user of that page gets an `update` (the feed item's JSON); after it removes one, a
`delete` {id}. One pipelined batch per page (notifications.live), never a round trip per follower.

Best effort: the feeds are written already and a client can always read /feed, so a failure here
is logged and does not fail (and repeat) the fan-out.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson
import redis.exceptions

from feed.rendering import tweet_json
from fleet_proto import tweet_service_pb2
from notifications.live import DELETE, UPDATE, LivePresence, LivePublisher
from shared.errors import DomainError

if TYPE_CHECKING:
    from fleet_proto.tweet_service_pb2_grpc import TweetAsyncStub

logger = logging.getLogger(__name__)
# Rendered items kept: one fan-out calls once per page of followers, with the same tweet.
_ITEMS_KEPT = 64


class FeedLiveUpdates:
    """Only users live within the replay window (notifications.live.LivePresence) are told."""

    def __init__(self, publisher: LivePublisher, tweets: TweetAsyncStub, presence: LivePresence) -> None:
        self._publisher = publisher
        self._tweets = tweets
        self._presence = presence
        # tweet id -> its item, or None when tweets no longer has it (asked once per fan-out too).
        self._items: OrderedDict[str, str | None] = OrderedDict()

    def live_since_ms(self) -> int:
        """Users present since this time (ms) are live: for a fan-out that asks Redis itself."""
        return self._presence.since_ms()

    async def tweet_added(self, tweet_id: str, user_ids: Sequence[str]) -> None:
        try:
            live = await self._presence.recent(user_ids)
        except (DomainError, redis.exceptions.RedisError, OSError) as exc:
            logger.warning("live update of tweet %s not sent to %d users (%s)", tweet_id, len(user_ids), exc)
            return
        await self.tweet_added_live(tweet_id, live)

    async def tweet_added_live(self, tweet_id: str, live: Sequence[str]) -> None:
        """`tweet_added` for users already known to be live."""
        if not live:
            return
        try:
            item = await self._item(tweet_id)
            if item is not None:
                await self._publisher.publish(UPDATE, item, live)
        except (DomainError, redis.exceptions.RedisError, OSError) as exc:
            logger.warning("live update of tweet %s not sent to %d users (%s)", tweet_id, len(live), exc)

    async def tweet_removed(self, tweet_id: str, user_ids: Sequence[str]) -> None:
        try:
            user_ids = await self._presence.recent(user_ids)
            await self._publisher.publish(DELETE, orjson.dumps({"id": tweet_id}).decode(), user_ids)
        except (DomainError, redis.exceptions.RedisError, OSError) as exc:
            logger.warning("live delete of tweet %s not sent to %d users (%s)", tweet_id, len(user_ids), exc)
        self._items.pop(tweet_id, None)

    async def _item(self, tweet_id: str) -> str | None:
        """The tweet as a feed item (the feed's own rendering); None once it is gone."""
        if tweet_id in self._items:
            return self._items[tweet_id]
        reply = await self._tweets.GetTweets(tweet_service_pb2.GetTweetsRequest(tweet_ids=[tweet_id]))
        item = self._items[tweet_id] = tweet_json(reply.tweets[0]) if reply.tweets else None
        while len(self._items) > _ITEMS_KEPT:
            self._items.popitem(last=False)
        return item
