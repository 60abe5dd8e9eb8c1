"""What makes a feed entry an item a client can draw: its author, the caller's like and repost state,
who reposted it into this feed, and whether the caller may see it at all (blocks and mutes).

One page costs at most one call of each kind, made together: users `GetUsers` for the authors and
reposters not cached, tweets `GetViewerState` for the caller's likes and reposts among the page,
users `GetHiddenUsers` for the caller's blocks and mutes when not cached. Authors and hidden sets
are cached in this process for a few seconds: no Redis round trip on a warm read, and a display-name
change or a new block shows within that time. Items are written by joining text, as
`rendering` does, never by re-serialising the cached tweet JSON.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from feed.feedstore import entry_parts
from fleet_proto import tweet_service_pb2, user_service_pb2
from shared.ttlcache import TtlCache

if TYPE_CHECKING:
    from fleet_proto.tweet_service_pb2_grpc import TweetAsyncStub
    from fleet_proto.user_service_pb2_grpc import UserAsyncStub

AUTHOR_TTL_SECONDS = 5.0
HIDDEN_TTL_SECONDS = 2.0
# The cached tweet JSON starts `{"id":"<36>","user_id":"<36>"` (rendering.tweet_json writes it).
_USER_ID = slice(56, 92)
_USER_ID_KEY = slice(44, 53)
_NO_ENTITIES = ',"entities":{"hashtags":[],"mentions":[]}'


@dataclass(frozen=True)
class Author:
    id: str
    username: str | None
    json: str  # {"id", "username", "display_name"}


def author_of(tweet_json: str) -> str:
    """The author id of a cached tweet JSON, read at its fixed place (parsed only if not there)."""
    if tweet_json[_USER_ID_KEY] == '"user_id"':
        return tweet_json[_USER_ID]
    return str(orjson.loads(tweet_json)["user_id"])


class FeedItems:
    def __init__(
        self,
        users: UserAsyncStub,
        tweets: TweetAsyncStub,
        author_ttl: float = AUTHOR_TTL_SECONDS,
        hidden_ttl: float = HIDDEN_TTL_SECONDS,
    ) -> None:
        self._users = users
        self._tweets = tweets
        self._authors: TtlCache[Author] = TtlCache(author_ttl)
        self._hidden: TtlCache[frozenset[str]] = TtlCache(hidden_ttl)

    async def render(self, viewer_id: str, entries: list[tuple[str, str]]) -> list[str]:
        """The items of a page of (feed entry, cached tweet JSON), in order; those the viewer may
        not see (its blocks and mutes, either as author or as reposter) left out."""
        if not entries:
            return []
        parts = [(*entry_parts(entry), body, author_of(body)) for entry, body in entries]
        people = {author for *_, author in parts} | {reposter for _, reposter, *_ in parts if reposter}
        hidden, authors, (liked, reposted) = await asyncio.gather(
            self.hidden(viewer_id),
            self.authors(people),
            self.viewer_state(viewer_id, [tweet_id for tweet_id, *_ in parts]),
        )
        items = []
        for tweet_id, reposter, body, author in parts:
            if author in hidden or (reposter is not None and reposter in hidden):
                continue
            by = "null"
            if reposter is not None:
                who = authors[reposter]
                by = orjson.dumps({"id": reposter, "username": who.username}).decode()
            entities = "" if '"entities"' in body else _NO_ENTITIES
            items.append(
                f'{body[:-1]},"author":{authors[author].json},'
                f'"liked_by_me":{_bool(tweet_id in liked)},"reposted_by_me":{_bool(tweet_id in reposted)},'
                f'"reposted_by":{by}{entities}}}'
            )
        return items

    async def authors(self, user_ids: Iterable[str]) -> dict[str, Author]:
        """The authors asked for; one GetUsers call for those not cached (unknown ones have no names)."""
        now = time.monotonic()
        found: dict[str, Author] = {}
        missing = []
        for user_id in user_ids:
            cached = self._authors.get(user_id, now)
            if cached is None:
                missing.append(user_id)
            else:
                found[user_id] = cached
        if missing:
            reply = await self._users.GetUsers(user_service_pb2.GetUsersRequest(user_ids=missing))
            fetched = {user.id: user for user in reply.users}
            for user_id in missing:
                user = fetched.get(user_id)
                username = user.username if user is not None else None
                display_name = (user.display_name or None) if user is not None else None
                author = Author(
                    user_id,
                    username,
                    orjson.dumps(
                        {"id": user_id, "username": username, "display_name": display_name}
                    ).decode(),
                )
                self._authors.put(user_id, author, now)
                found[user_id] = author
        return found

    async def hidden(self, viewer_id: str) -> frozenset[str]:
        """The accounts whose tweets and reposts stay out of the viewer's feed (cached briefly)."""
        now = time.monotonic()
        cached = self._hidden.get(viewer_id, now)
        if cached is not None:
            return cached
        reply = await self._users.GetHiddenUsers(user_service_pb2.GetHiddenUsersRequest(user_id=viewer_id))
        hidden = frozenset(reply.user_ids)
        self._hidden.put(viewer_id, hidden, now)
        return hidden

    async def viewer_state(self, viewer_id: str, tweet_ids: list[str]) -> tuple[set[str], set[str]]:
        """Which of the tweets the viewer liked and reposted: one call."""
        reply = await self._tweets.GetViewerState(
            tweet_service_pb2.GetViewerStateRequest(user_id=viewer_id, tweet_ids=tweet_ids)
        )
        return set(reply.liked_ids), set(reply.reposted_ids)


def _bool(value: bool) -> str:
    return "true" if value else "false"
