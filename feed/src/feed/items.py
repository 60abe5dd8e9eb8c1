"""What makes a feed entry an item a client can draw: its author, the caller's like and repost state,
who reposted it into this feed, and whether the caller may see it at all (blocks and mutes).

One page costs at most one call of each kind, made together: users `GetUsers` for the authors and
reposters not cached, tweets `GetViewerState` for the caller's likes and reposts among the page,
users `GetHiddenUsers` for the caller's blocks and mutes when not cached. Authors are cached in
this process until they change (feed.authors). The caller's hidden set and like/repost state are
cached in Redis (feed.viewers: one pipelined round trip per read, dropped when they change), so a
warm read asks no other service;
without that cache (tests of the bare path) the hidden set is cached in this process briefly and
the state asked every time. Items are written by joining text, as `rendering` does, never by
re-serialising the cached tweet JSON.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, TypeVar

import orjson

from feed.authors import Author, AuthorCache
from feed.entries import entry_parts
from feed.pages import ViewerKeys
from feed.viewers import MAX_STATE_TWEETS, ViewerCache, ViewerSnapshot, viewer_keys
from fleet_proto import tweet_service_pb2, user_service_pb2
from shared.ttlcache import TtlCache

if TYPE_CHECKING:
    from fleet_proto.tweet_service_pb2_grpc import TweetAsyncStub
    from fleet_proto.user_service_pb2_grpc import UserAsyncStub

T = TypeVar("T")

HIDDEN_TTL_SECONDS = 2.0
# The cached tweet JSON starts `{"id":"<36>","user_id":"<36>"` (rendering.tweet_json writes it).
_USER_ID = slice(56, 92)
_USER_ID_KEY = slice(45, 54)
_NO_ENTITIES = ',"entities":{"hashtags":[],"mentions":[]}'


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
        viewers: ViewerCache | None = None,
        authors: AuthorCache | None = None,
    ) -> None:
        self._users = users
        self._tweets = tweets
        self._viewers = viewers
        self.authors = authors if authors is not None else AuthorCache(users)
        # Without the Redis cache only.
        self._hidden: TtlCache[frozenset[str]] = TtlCache(HIDDEN_TTL_SECONDS)

    def viewer_keys(self, viewer_id: str) -> ViewerKeys:
        """The keys of the viewer's cached side, for a page script to read with the page (None
        without the Redis cache)."""
        return None if self._viewers is None else viewer_keys(viewer_id)

    async def render(
        self, viewer_id: str, entries: list[tuple[str, str]], snapshot: ViewerSnapshot | None = None
    ) -> list[str]:
        """The items of a page of (feed entry, cached tweet JSON), in order; those the viewer may
        not see (its blocks and mutes, either as author or as reposter) left out. `snapshot`: the
        viewer's cached side as read with the page (else read here)."""
        if not entries:
            return []
        parts = [(*entry_parts(entry), body, author_of(body)) for entry, body in entries]
        people = {author for *_, author in parts} | {reposter for _, reposter, *_ in parts if reposter}
        tweet_ids = [tweet_id for tweet_id, *_ in parts]
        # Awaited in turn, not gathered: warm, neither waits on anything but the one Redis round
        # trip, and tasks would cost more than they save.
        authors = await self.authors.of(people)
        hidden, (liked, reposted) = await self.viewer(viewer_id, tweet_ids, snapshot)
        items = []
        for tweet_id, reposter, body, author in parts:
            if author in hidden or (reposter is not None and reposter in hidden):
                continue
            by = None if reposter is None else authors[reposter]
            if by is not None and by.deleted:
                # The reposter's account is deleted: its reposts went with it. The user.unfollow
                # events of its follows take them out of this feed soon (and bring back the
                # originals the viewer still follows); until then they are left out here.
                continue
            items.append(item_json(body, authors[author], tweet_id in liked, tweet_id in reposted, by))
        return items

    async def viewer(
        self, viewer_id: str, tweet_ids: list[str], snapshot: ViewerSnapshot | None = None
    ) -> tuple[frozenset[str], tuple[set[str], set[str]]]:
        """The viewer's hidden set, and which of the tweets it liked and reposted: from the Redis
        cache (`snapshot` when already read), with one call each for what it misses (made together),
        stored back for the next read."""
        if self._viewers is None:
            return await asyncio.gather(self.hidden(viewer_id), self._ask_state(viewer_id, tweet_ids))
        if snapshot is None:
            snapshot = await self._viewers.read(viewer_id, tweet_ids)
        cached_hidden, known, stored = snapshot
        missing = [tweet_id for tweet_id in tweet_ids if tweet_id not in known]
        if cached_hidden is not None and not missing:
            return cached_hidden, _flagged(known, tweet_ids)
        hidden, fetched = await asyncio.gather(
            self._ask_hidden(viewer_id) if cached_hidden is None else _ready(cached_hidden),
            self._ask_state(viewer_id, missing) if missing else _ready((set(), set())),
        )
        states = {tweet_id: (tweet_id in fetched[0], tweet_id in fetched[1]) for tweet_id in missing}
        await self._viewers.store(
            viewer_id,
            hidden if cached_hidden is None else None,
            states,
            restart_states=stored + len(states) > MAX_STATE_TWEETS,
        )
        return hidden, _flagged(known | states, tweet_ids)

    async def hidden(self, viewer_id: str) -> frozenset[str]:
        """The accounts whose tweets and reposts stay out of the viewer's feed (without the Redis
        cache: cached here briefly)."""
        now = time.monotonic()
        cached = self._hidden.get(viewer_id, now)
        if cached is not None:
            return cached
        hidden = await self._ask_hidden(viewer_id)
        self._hidden.put(viewer_id, hidden, now)
        return hidden

    async def _ask_hidden(self, viewer_id: str) -> frozenset[str]:
        reply = await self._users.GetHiddenUsers(user_service_pb2.GetHiddenUsersRequest(user_id=viewer_id))
        return frozenset(reply.user_ids)

    async def _ask_state(self, viewer_id: str, tweet_ids: list[str]) -> tuple[set[str], set[str]]:
        """Which of the tweets the viewer liked and reposted: one call."""
        reply = await self._tweets.GetViewerState(
            tweet_service_pb2.GetViewerStateRequest(user_id=viewer_id, tweet_ids=tweet_ids)
        )
        return set(reply.liked_ids), set(reply.reposted_ids)


def item_json(tweet: str, author: Author, liked: bool, reposted: bool, reposted_by: Author | None) -> str:
    """A feed item (FeedTweet JSON): the cached tweet JSON with the author, the viewer's state and
    the reposter appended as text."""
    by = "null"
    if reposted_by is not None:
        by = orjson.dumps({"id": reposted_by.id, "username": reposted_by.username}).decode()
    entities = "" if '"entities"' in tweet else _NO_ENTITIES
    return (
        f'{tweet[:-1]},"author":{author.json},'
        f'"liked_by_me":{_bool(liked)},"reposted_by_me":{_bool(reposted)},'
        f'"reposted_by":{by}{entities}}}'
    )


def _flagged(states: dict[str, tuple[bool, bool]], tweet_ids: list[str]) -> tuple[set[str], set[str]]:
    """(liked, reposted) among the tweets."""
    return (
        {tweet_id for tweet_id in tweet_ids if states[tweet_id][0]},
        {tweet_id for tweet_id in tweet_ids if states[tweet_id][1]},
    )


async def _ready(value: T) -> T:
    return value


def _bool(value: bool) -> str:
    return "true" if value else "false"
