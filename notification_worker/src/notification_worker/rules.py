"""Which notifications an event makes or removes. Never one to yourself; who blocks or mutes whom
is checked when the batch is written (NotificationWriter), since it needs the users service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from notification_worker.events import MAX_MENTIONS, FollowChange, TweetActivity, TweetWritten
from notifications.repository import NotificationKey


@dataclass(frozen=True)
class Create:
    key: NotificationKey
    event_id: uuid.UUID


@dataclass(frozen=True)
class Remove:
    key: NotificationKey


Change = Create | Remove

# event_type -> (notification type, whether the event undoes it)
_ACTIVITY = {
    "tweet.like": ("like", False),
    "tweet.unlike": ("like", True),
    "tweet.repost": ("repost", False),
    "tweet.unrepost": ("repost", True),
    "tweet.reply": ("reply", False),
}


def changes_for(body: dict[str, Any]) -> list[Change]:
    """The changes an event body asks for (none for events that concern no one); raises
    ValidationError for a body that does not match its event_type."""
    event_type = body.get("event_type")
    if event_type in _ACTIVITY:
        return _activity(TweetActivity.model_validate(body))
    if event_type in ("tweet.create", "tweet.update"):
        return _mentions(TweetWritten.model_validate(body))
    if event_type in ("user.follow", "user.unfollow"):
        return _follow(FollowChange.model_validate(body))
    return []


def _activity(event: TweetActivity) -> list[Change]:
    kind, undo = _ACTIVITY[event.event_type]
    if event.user_id == event.author_id:
        return []
    # A reply notification points at the reply (what the author wants to read), the others at
    # the tweet that was liked or reposted.
    tweet_id = event.reply_id if kind == "reply" and event.reply_id is not None else event.tweet_id
    key = NotificationKey(event.author_id, kind, event.user_id, tweet_id)
    return [Remove(key)] if undo else [Create(key, event.event_id)]


def _mentions(event: TweetWritten) -> list[Change]:
    mentioned = dict.fromkeys(m.id for m in event.entities.mentions if m.id != event.user_id)
    return [
        Create(NotificationKey(user_id, "mention", event.user_id, event.tweet_id), event.event_id)
        for user_id in list(mentioned)[:MAX_MENTIONS]
    ]


def _follow(event: FollowChange) -> list[Change]:
    if event.follower_id == event.following_id:
        return []
    key = NotificationKey(event.following_id, "follow", event.follower_id, None)
    return [Remove(key)] if event.event_type == "user.unfollow" else [Create(key, event.event_id)]
