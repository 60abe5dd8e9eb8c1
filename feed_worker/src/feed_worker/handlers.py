"""Message handlers: validate the event body (invalid → ValidationError → DLQ), then apply it."""

from __future__ import annotations

import logging
from typing import Any

from feed.tweetcache import TweetCache
from feed_worker.fanout import FeedFanout
from shared.messaging.events import TweetEvent, UserFollowEvent
from shared.messaging.topology import TWEET_CREATE, TWEET_DELETE, TWEET_UPDATE, USER_FOLLOW, USER_UNFOLLOW

logger = logging.getLogger(__name__)


class FeedHandlers:
    def __init__(self, fanout: FeedFanout, cache: TweetCache) -> None:
        self._fanout = fanout
        self._cache = cache

    async def on_tweet_event(self, body: dict[str, Any]) -> None:
        event = TweetEvent.model_validate(body)
        tweet_id, author_id = str(event.tweet_id), str(event.user_id)
        if event.event_type == TWEET_CREATE:
            followers = await self._fanout.tweet_created(tweet_id, author_id)
            logger.debug("tweet %s fanned out to %d followers", tweet_id, followers)
        elif event.event_type == TWEET_DELETE:
            await self._fanout.tweet_deleted(tweet_id, author_id)
            await self._cache.drop([tweet_id])
        elif event.event_type == TWEET_UPDATE:
            # Feeds hold ids, so an edit changes no feed; tweets already dropped the cached copy
            # after its commit, and this at-least-once drop covers that one being lost.
            await self._cache.drop([tweet_id])

    async def on_follow_event(self, body: dict[str, Any]) -> None:
        event = UserFollowEvent.model_validate(body)
        follower_id, following_id = str(event.follower_id), str(event.following_id)
        if event.event_type == USER_FOLLOW:
            await self._fanout.followed(follower_id, following_id)
        elif event.event_type == USER_UNFOLLOW:
            await self._fanout.unfollowed(follower_id, following_id)
