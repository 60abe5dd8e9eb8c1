"""Message handlers: validate the event body (invalid → ValidationError → DLQ), then apply it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from feed.entries import repost_entry
from feed.tweetcache import TweetCache
from feed.viewers import ViewerCache
from feed_worker.fanout import FeedFanout
from shared.messaging.consumer import MalformedMessage
from shared.messaging.events import (
    TweetActionEvent,
    TweetEvent,
    UserDeleteEvent,
    UserFollowEvent,
    UserProfileEvent,
    UserRelationEvent,
)
from shared.messaging.topology import (
    TWEET_ACTION_EVENTS,
    TWEET_CREATE,
    TWEET_DELETE,
    TWEET_LIKE,
    TWEET_REPOST,
    TWEET_UNLIKE,
    TWEET_UNREPOST,
    TWEET_UPDATE,
    USER_DELETE,
    USER_FOLLOW,
    USER_RELATION_EVENTS,
    USER_UNFOLLOW,
    USER_UPDATE,
)

logger = logging.getLogger(__name__)


class FeedHandlers:
    def __init__(
        self,
        fanout: FeedFanout,
        cache: TweetCache,
        viewers: ViewerCache | None = None,
        authors_changed: Callable[[list[str]], Awaitable[None]] | None = None,
    ) -> None:
        self._fanout = fanout
        self._cache = cache
        # None: feed readers' cached viewer state is not told (tests of the fan-out alone).
        self._viewers = viewers
        # Tells the feed processes' author caches (feed.authors); None in tests of the fan-out alone.
        self._authors_changed = authors_changed

    async def on_tweet_event(self, body: dict[str, Any]) -> None:
        if body.get("event_type") in TWEET_ACTION_EVENTS:
            await self.on_tweet_action(TweetActionEvent.model_validate(body))
            return
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

    async def on_tweet_action(self, event: TweetActionEvent) -> None:
        """Reposts travel into feeds; likes and replies change no feed (tweets drops the cached copy).
        The actor's like/repost state changed: tweets said so after its commit, and this says it
        again at least once."""
        if self._viewers is not None and event.event_type in (
            TWEET_LIKE,
            TWEET_UNLIKE,
            TWEET_REPOST,
            TWEET_UNREPOST,
        ):
            await self._viewers.state_changed([event.user_id])
        if event.event_type not in (TWEET_REPOST, TWEET_UNREPOST):
            return
        if event.repost_id is None:
            raise MalformedMessage(f"{event.event_type} without repost_id")
        entry = repost_entry(event.repost_id, event.tweet_id, event.user_id)
        if event.event_type == TWEET_REPOST:
            await self._fanout.reposted(entry, str(event.user_id))
        else:
            await self._fanout.unreposted(entry, str(event.user_id))

    async def on_follow_event(self, body: dict[str, Any]) -> None:
        if body.get("event_type") in USER_RELATION_EVENTS:
            await self.on_relation_event(UserRelationEvent.model_validate(body))
            return
        if body.get("event_type") in (USER_UPDATE, USER_DELETE):
            await self.on_account_changed(body)
            return
        event = UserFollowEvent.model_validate(body)
        follower_id, following_id = str(event.follower_id), str(event.following_id)
        if event.event_type == USER_FOLLOW:
            await self._fanout.followed(follower_id, following_id)
        elif event.event_type == USER_UNFOLLOW:
            await self._fanout.unfollowed(follower_id, following_id)

    async def on_account_changed(self, body: dict[str, Any]) -> None:
        """A name changed or the account went: feed processes drop their copy of the author (a
        user.update of a follower count alone costs them one GetUsers of it, on its next read)."""
        model = UserDeleteEvent if body.get("event_type") == USER_DELETE else UserProfileEvent
        event = model.model_validate(body)
        if self._authors_changed is not None:
            await self._authors_changed([str(event.user_id)])

    async def on_relation_event(self, event: UserRelationEvent) -> None:
        """A block or mute (or its end) changes what both accounts' feed reads hide: their cached
        hidden sets are asked again (the follows a block ends arrive as user.unfollow)."""
        if self._viewers is not None:
            await self._viewers.hidden_changed([event.user_id, event.target_id])
