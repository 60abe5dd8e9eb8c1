"""Feed entries and the feed store's Redis keys.

A feed is `feed:<user_id>`, a list of entries newest first, at most FEED_LENGTH, one per tweet. An
original is a bare tweet id. A repost entry is `<repost id>:<tweet id>:<reposter id>`: the repost's
UUIDv7 first, so string order places it by repost time among the originals, and the entry names the
tweet and who reposted it.

Lua compares the ids as strings; canonical UUID strings (lower-case hex, hyphens at fixed places)
sort the same under any collation, which is why ids are normalised before they are written.
A deleted tweet leaves a short-lived tombstone (`deleted-tweet:<id>`), an undone repost one too
(`deleted-repost:<repost id>`), and `tweet-reposts:<tweet id>` (a hash repost id → reposter id)
says whose followers' feeds to clean when the tweet is deleted.
"""

from __future__ import annotations

import uuid

FEED_LENGTH = 1000
KEY_PREFIX = "feed:"
TOMBSTONE_PREFIX = "deleted-tweet:"
REPOST_TOMBSTONE_PREFIX = "deleted-repost:"
TWEET_REPOSTS_PREFIX = "tweet-reposts:"
# The length of a canonical UUID string: a longer entry is a repost entry.
ID_LENGTH = 36
# How long a deleted tweet is refused by fan-out: far longer than any redelivery or retry lasts.
TOMBSTONE_SECONDS = 24 * 3600


def feed_key(user_id: uuid.UUID | str) -> str:
    return f"{KEY_PREFIX}{user_id}"


def tombstone_key(tweet_id: str) -> str:
    return f"{TOMBSTONE_PREFIX}{tweet_id}"


def repost_tombstone_key(repost_id: str) -> str:
    return f"{REPOST_TOMBSTONE_PREFIX}{repost_id}"


def tweet_reposts_key(tweet_id: str) -> str:
    return f"{TWEET_REPOSTS_PREFIX}{tweet_id}"


def repost_entry(repost_id: uuid.UUID | str, tweet_id: uuid.UUID | str, reposter_id: uuid.UUID | str) -> str:
    """The feed entry of a repost: sorted by the repost's id, naming the tweet and the reposter."""
    return f"{canonical_id(repost_id)}:{canonical_id(tweet_id)}:{canonical_id(reposter_id)}"


def entry_parts(entry: str) -> tuple[str, str | None]:
    """(tweet id, reposter id or None) of a feed entry."""
    if len(entry) == ID_LENGTH:
        return entry, None
    _, tweet_id, reposter_id = entry.split(":")
    return tweet_id, reposter_id


def entry_cursor(entry: str) -> str:
    """The sort key of an entry (the tweet id, or the repost id): what `before` and `since_id` compare."""
    return entry[:ID_LENGTH]


def canonical_id(value: uuid.UUID | str) -> str:
    """The canonical string of a tweet id (lower case, hyphenated), the form every feed stores."""
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(value))


def canonical_entry(value: uuid.UUID | str) -> str:
    """A tweet id in canonical form; a repost entry (made by `repost_entry`) as it is."""
    if isinstance(value, str) and len(value) > ID_LENGTH:
        return value
    return canonical_id(value)
